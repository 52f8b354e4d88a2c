/**
 * `pibake verify` of the demo build on this machine against `sha256sum` of the same files, in the
 * same run: the demo build is baked and published locally once (test/boot/published.ts), then,
 * alternately, each of
 *
 *   sha256sum   find <tree> -type f -print0 | xargs -0 sha256sum   (every file's contents, one process)
 *   verify      pibake verify <recipe> --target <site>             (the whole command: record, stored
 *                                                                  snapshot, its digest, the tree read
 *                                                                  and hashed, the comparison)
 *
 *   node bench/verify.ts [--rounds N]
 *
 * A first round of each warms the page cache (not counted). Prints each run, the medians and the
 * ratio verify / sha256sum (the target: at most 1.5), as a table and as JSON.
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { exec } from '../src/system/exec.ts'
import { publishDemoBuild } from '../test/boot/published.ts'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } })
const rounds = Number(values.rounds)
const CLI = join(import.meta.dirname, '../src/cli.ts')

const published = await publishDemoBuild('bench-verify')
const times: Record<'sha256sum' | 'verify', number[]> = { sha256sum: [], verify: [] }
try {
  const files = Number((await exec(['sh', '-c', 'find "$1" -type f | wc -l', 'sh', published.root])).stdout)
  const bytes = Number((await exec(['du', '-sb', '--', published.root])).stdout.split('\t')[0])
  console.log(`build ${published.id}: ${files} files, ${(bytes / 2 ** 20).toFixed(0)} MiB`)
  const kinds = {
    sha256sum: () => exec(['sh', '-c', 'find "$1" -type f -print0 | xargs -0 sha256sum > /dev/null', 'sh', published.root]),
    verify: async () => {
      const run = await exec([process.execPath, '--conditions=pibake-source', CLI, 'verify', 'bench-verify', '--target', published.publish], { okCodes: [1] })
      if (run.exitCode !== 0) throw new Error(`pibake verify found differences in an untouched build:\n${run.stdout}`)
    },
  }
  for (let round = 0; round <= rounds; round++) {
    for (const [kind, run] of Object.entries(kinds) as [keyof typeof times, () => Promise<unknown>][]) {
      const started = performance.now()
      await run()
      const seconds = (performance.now() - started) / 1000
      if (round > 0) times[kind].push(seconds)
      console.log(`${round === 0 ? 'warm-up ' : `round ${round}  `} ${kind.padEnd(10)} ${seconds.toFixed(2)} s`)
    }
  }
  const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!
  const result = { files, bytes, rounds, sha256sum: median(times.sha256sum), verify: median(times.verify), ratio: median(times.verify) / median(times.sha256sum) }
  console.log(`\nmedian sha256sum ${result.sha256sum.toFixed(2)} s, pibake verify ${result.verify.toFixed(2)} s: ratio ${result.ratio.toFixed(2)} (target ≤ 1.5)`)
  console.log(JSON.stringify(result))
} finally {
  await published.remove()
}
