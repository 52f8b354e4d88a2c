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
 * A first round of each warms the page cache (not counted); what a run writes is removed before it
 * is timed. Prints each run, the medians and the
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
  // What each run writes, removed before it is timed (removing a tree of 16,000 entries takes as long as some runs).
  const outputs: Record<Kind, string> = { 'tar -c': 'base.tar.zst', export: 'root.tar.zst', 'tar -x': 'tar-x', import: 'import' }
  const out = (kind: Kind) => join(work, outputs[kind])
  const kinds: Record<Kind, () => Promise<unknown>> = {
    'tar -c': async () => exec(['tar', '-C', root, '-c', '--zstd', '-f', out('tar -c'), '.']),
    export: async () => exec([process.execPath, '--conditions=pibake-source', CLI, 'export', root, '-o', out('export')]),
    'tar -x': async () => {
      await mkdir(out('tar -x'))
      await exec(['tar', '-C', out('tar -x'), '-x', '--zstd', '-f', archive])
    },
    import: async () => unpackImageTarball(archive, out('import'), { as: 'root' }),
  }
  for (let round = 0; round <= rounds; round++) {
    for (const [kind, run] of Object.entries(kinds) as [Kind, () => Promise<unknown>][]) {
      await rm(out(kind), { recursive: true, force: true })
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
