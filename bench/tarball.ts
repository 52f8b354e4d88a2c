/**
 * Root tarballs of the demo build against GNU tar on the same tree and archive, in the same run:
 * the demo build is baked and published locally once (test/boot/published.ts), then, alternately,
 *
 *   tar -c      tar -C <root> -c --zstd -f base.tar.zst .          (the build's root, as it is)
 *   export      pibake export <root> -o root.tar.zst               (the whole command: walk, xattrs,
 *                                                                   sorted entries, zstd)
 *   tar -x      tar -C <new folder> -x --zstd -f root.tar.zst      (pibake's archive)
 *   import      the image stage's unpack of root.tar.zst           (read once and hashed, zstd,
 *                                                                   tar-stream, files, xattrs,
 *                                                                   boot/firmware/ apart)
 *
 *   node bench/tarball.ts [--rounds N] [--only export|import]
 *
 * A first round of each warms the page cache (not counted). Every run writes a new file or folder,
 * and nothing is removed until the end: ext4 skips the inodes freed in the last minute or more when
 * it makes new ones, so a tree of 16,000 entries removed just before a run cost that run seconds of
 * kernel time (3-6 s of it here, against 1.3 s for the same run into a fresh file system area).
 * `sync` runs before each run (not timed), so none pays for the writeback of the one before.
 *
 * Prints each run with its CPU time (user + system, its processes and threads together: on a
 * loaded machine the wall time follows the CPU time, and the other load), the medians, the ratios
 * export / tar -c and import / tar -x (the targets: at most 1.2 each), the load average, and the
 * result as JSON.
 */
import { readFileSync } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { enablePibakeCompileCache } from '../src/system/compile-cache.ts'
import { exec } from '../src/system/exec.ts'
import { unpackImageTarball } from '../src/tarball/image.ts'
import { publishDemoBuild } from '../test/boot/published.ts'

// As src/cli.ts does for every command: the import's thread (src/tarball/unpack-thread.ts) loads its modules through the caller's compile cache, as it does in `pibake build`.
enablePibakeCompileCache()

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, only: { type: 'string' } } })
const rounds = Number(values.rounds)
if (values.only !== undefined && values.only !== 'export' && values.only !== 'import') throw new Error('--only takes export or import')
/** The kinds of this run: `--only export` leaves out tar -x and the import, `--only import` tar -c (the warm-up export still makes the archive). */
const timed = (kind: string) => values.only === undefined || (values.only === 'export' ? kind === 'tar -c' || kind === 'export' : kind !== 'tar -c')
const CLI = join(import.meta.dirname, '../src/cli.ts')

type Kind = 'tar -c' | 'export' | 'tar -x' | 'import'

const published = await publishDemoBuild('bench-tarball')
const times: Record<Kind, number[]> = { 'tar -c': [], export: [], 'tar -x': [], import: [] }
try {
  const root = published.root
  const work = join(published.dir, 'bench')
  await mkdir(work)
  const files = Number((await exec(['sh', '-c', 'find "$1" | wc -l', 'sh', root])).stdout)
  const bytes = Number((await exec(['du', '-sb', '--', root])).stdout.split('\t')[0])
  console.log(`build ${published.id}: ${files} entries, ${(bytes / 2 ** 20).toFixed(0)} MiB`)
  const archive = join(work, 'root.tar.zst')
  // Each run's own output, kept until the end (see above: ~7 GB for 3 rounds); import and tar -x read the warm-up export's archive.
  const out = (kind: Kind, round: number) => {
    if (kind === 'export' && round === 0) return archive
    const name = `${kind.replace(' ', '')}.${round}`
    return join(work, kind === 'tar -c' || kind === 'export' ? `${name}.tar.zst` : name)
  }
  const kinds: Record<Kind, (to: string) => Promise<unknown>> = {
    'tar -c': async (to) => exec(['tar', '-C', root, '-c', '--zstd', '-f', to, '.']),
    export: async (to) => exec([process.execPath, '--conditions=pibake-source', CLI, 'export', root, '-o', to]),
    'tar -x': async (to) => {
      await mkdir(to)
      await exec(['tar', '-C', to, '-x', '--zstd', '-f', archive])
    },
    import: async (to) => unpackImageTarball(archive, to, { as: 'root' }),
  }
  const cpu = { runs: {} as Record<Kind, number[]> }
  for (const kind of Object.keys(kinds) as Kind[]) cpu.runs[kind] = []
  const loads: number[] = []
  for (let round = 0; round <= rounds; round++) {
    for (const [kind, run] of Object.entries(kinds) as [Kind, (to: string) => Promise<unknown>][]) {
      if (!timed(kind) && !(kind === 'export' && round === 0)) continue
      await exec(['sync'])
      const load = loadavg()[0]!
      const before = cpuSeconds()
      const started = performance.now()
      await run(out(kind, round))
      const seconds = (performance.now() - started) / 1000
      const used = cpuSeconds() - before
      if (round > 0) {
        times[kind].push(seconds)
        cpu.runs[kind].push(used)
        loads.push(load)
      }
      console.log(`${round === 0 ? 'warm-up ' : `round ${round}  `} ${kind.padEnd(8)} ${seconds.toFixed(2)} s  (CPU ${used.toFixed(2)} s, load ${load.toFixed(1)})`)
    }
  }
  const median = (list: number[]) => (list.length ? [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]! : NaN)
  const sizes = { tar: timed('tar -c') ? (await stat(out('tar -c', rounds))).size : NaN, export: (await stat(archive)).size }
  const m = Object.fromEntries(Object.entries(times).map(([kind, list]) => [kind, median(list)])) as Record<Kind, number>
  const c = Object.fromEntries(Object.entries(cpu.runs).map(([kind, list]) => [kind, median(list)])) as Record<Kind, number>
  const load = { min: Math.min(...loads), max: Math.max(...loads) }
  const result = { files, bytes, rounds, medians: m, cpuMedians: c, load, sizes, exportRatio: m.export / m['tar -c'], importRatio: m.import / m['tar -x'], exportCpuRatio: c.export / c['tar -c'], importCpuRatio: c.import / c['tar -x'] }
  console.log(`\nmedian tar -c ${m['tar -c'].toFixed(2)} s, pibake export ${m.export.toFixed(2)} s: ratio ${result.exportRatio.toFixed(2)} (target ≤ 1.2); CPU ${c['tar -c'].toFixed(2)} s, ${c.export.toFixed(2)} s: ${result.exportCpuRatio.toFixed(2)}`)
  console.log(`median tar -x ${m['tar -x'].toFixed(2)} s, import ${m.import.toFixed(2)} s: ratio ${result.importRatio.toFixed(2)} (target ≤ 1.2); CPU ${c['tar -x'].toFixed(2)} s, ${c.import.toFixed(2)} s: ${result.importCpuRatio.toFixed(2)}`)
  console.log(`load average (1 min) at the timed runs: ${load.min.toFixed(1)}-${load.max.toFixed(1)}`)
  console.log(`archives: tar ${(sizes.tar / 2 ** 20).toFixed(0)} MiB, pibake ${(sizes.export / 2 ** 20).toFixed(0)} MiB`)
  console.log(JSON.stringify(result))
} finally {
  await published.remove()
}

/**
 * CPU seconds (user + system) of this process (every thread) and of its children waited for so
 * far (tar, zstd, the export's node), from /proc/self/stat.
 */
function cpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
  // utime, stime, cutime, cstime: fields 14-17 of stat(5), here from the state field (3) on.
  const ticks = [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index]), 0)
  return ticks / 100
}
