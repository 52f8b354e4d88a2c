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
 *   node bench/tarball.ts [--rounds N]
 *
 * A first round of each warms the page cache (not counted). Prints each run, the medians and the
 * ratios export / tar -c and import / tar -x (the targets: at most 1.2 each), and the result as JSON.
 */
import { mkdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { exec } from '../src/system/exec.ts'
import { unpackImageTarball } from '../src/tarball/image.ts'
import { publishDemoBuild } from '../test/boot/published.ts'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } })
const rounds = Number(values.rounds)
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
  const fresh = async (name: string) => {
    await rm(join(work, name), { recursive: true, force: true })
    return join(work, name)
  }
  const kinds: Record<Kind, () => Promise<unknown>> = {
    'tar -c': async () => exec(['tar', '-C', root, '-c', '--zstd', '-f', await fresh('base.tar.zst'), '.']),
    export: async () => exec([process.execPath, '--conditions=pibake-source', CLI, 'export', root, '-o', await fresh('root.tar.zst')]),
    'tar -x': async () => {
      const dest = await fresh('tar-x')
      await mkdir(dest)
      await exec(['tar', '-C', dest, '-x', '--zstd', '-f', archive])
    },
    import: async () => unpackImageTarball(archive, await fresh('import'), { as: 'root' }),
  }
  for (let round = 0; round <= rounds; round++) {
    for (const [kind, run] of Object.entries(kinds) as [Kind, () => Promise<unknown>][]) {
      const started = performance.now()
      await run()
      const seconds = (performance.now() - started) / 1000
      if (round > 0) times[kind].push(seconds)
      console.log(`${round === 0 ? 'warm-up ' : `round ${round}  `} ${kind.padEnd(8)} ${seconds.toFixed(2)} s`)
    }
  }
  const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!
  const sizes = { tar: (await stat(join(work, 'base.tar.zst'))).size, export: (await stat(archive)).size }
  const m = Object.fromEntries(Object.entries(times).map(([kind, list]) => [kind, median(list)])) as Record<Kind, number>
  const result = { files, bytes, rounds, medians: m, sizes, exportRatio: m.export / m['tar -c'], importRatio: m.import / m['tar -x'] }
  console.log(`\nmedian tar -c ${m['tar -c'].toFixed(2)} s, pibake export ${m.export.toFixed(2)} s: ratio ${result.exportRatio.toFixed(2)} (target ≤ 1.2)`)
  console.log(`median tar -x ${m['tar -x'].toFixed(2)} s, import ${m.import.toFixed(2)} s: ratio ${result.importRatio.toFixed(2)} (target ≤ 1.2)`)
  console.log(`archives: tar ${(sizes.tar / 2 ** 20).toFixed(0)} MiB, pibake ${(sizes.export / 2 ** 20).toFixed(0)} MiB`)
  console.log(JSON.stringify(result))
} finally {
  await published.remove()
}
