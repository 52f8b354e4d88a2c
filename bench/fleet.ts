/**
 * What a fleet's size costs: the demo image's cluster-node recipe with 4 nodes and with 994 nodes,
 * each built from a fresh `--out` (image decompressed, every stage run, host keys made, published),
 * rebuilt unchanged, and rebuilt after one overlay file changed. Every build is the real CLI as a
 * user runs it (`bin/pibake.js build --json`, through its `#!` line and the V8 flags there), in a
 * child process under `/usr/bin/time`, whose peak RSS is the largest of pibake and every program it ran.
 *
 *   node bench/fleet.ts [--rounds N] [--nodes 4,994]
 *
 * Prints each build, then per fleet size the median seconds and peak RSS of each kind of build and
 * its ratio to the same kind with the smallest fleet, as a table and as JSON.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { clean } from '../src/clean.ts'
import { buildDemoImage } from '../src/demo/build.ts'
import { exec } from '../src/system/exec.ts'

const KINDS = ['first build', 'unchanged', 'one file changed'] as const
type Kind = (typeof KINDS)[number]

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '1' }, nodes: { type: 'string', default: '4,994' } } })
const rounds = Math.max(1, Number(values.rounds) || 1)
const sizes = values.nodes.split(',').map(Number)
const repo = join(import.meta.dirname, '..')
const image = await buildDemoImage({ arch: 'arm64', outDir: join(repo, 'out/demo') })
const dir = await mkdtemp(join(tmpdir(), 'pibake-bench-fleet-'))
const runs: { nodes: number; kind: Kind; seconds: number; rssMiB: number; stages: Record<string, number> }[] = []

/** `count` Raspberry Pis on a /21, cycling through the netbooting models the demo image serves. */
export function fleet(count: number): object[] {
  const models = ['4B', '400', '3B+', 'CM4']
  return Array.from({ length: count }, (_, i) => {
    const ip = 10 + i
    return {
      hostname: `node${String(i + 1).padStart(4, '0')}`,
      mac: `dc:a6:32:01:${hex(i >> 8)}:${hex(i & 0xff)}`,
      ip: `10.42.${ip >> 8}.${ip & 0xff}`,
      model: models[i % models.length],
      serial: `a${String(i).padStart(7, '0')}`,
    }
  })
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0')
}

async function writeRecipe(file: string, overlay: string, nodes: number): Promise<void> {
  const recipe = {
    name: 'cluster-node',
    image: { path: image.xz, sha256: image.sha256File, arch: 'arm64' },
    overlays: [overlay],
    netboot: {
      server: '10.42.0.1',
      dhcp: { mode: 'range', start: '10.42.7.100', end: '10.42.7.200', netmask: '255.255.248.0', router: '10.42.0.1' },
      nfs: { server: '10.42.0.1' },
    },
    nodes: fleet(nodes),
  }
  await writeFile(file, `export default ${JSON.stringify(recipe, null, 1)}\n`)
}

/** One `pibake build`, timed; its peak RSS (KiB) from /usr/bin/time, its stages from the summary. */
async function timed(nodes: number, kind: Kind, recipe: string, out: string): Promise<void> {
  const timeFile = join(dir, 'time.txt')
  const started = performance.now()
  const { stdout } = await exec(['/usr/bin/time', '-o', timeFile, '-f', '%M', join(repo, 'bin/pibake.js'), 'build', recipe, '--out', out, '--json'], { env: { PATH: `${dirname(process.execPath)}:${process.env.PATH}` } })
  const seconds = (performance.now() - started) / 1000
  const rssMiB = Number((await readFile(timeFile, 'utf8')).trim().split('\n').at(-1)) / 1024
  const summary = JSON.parse(stdout.split('\n').filter((line) => line.includes('"type":"summary"')).at(-1) ?? '{}') as { stages?: { name: string; seconds?: number }[] }
  const stages = Object.fromEntries((summary.stages ?? []).filter((s) => s.seconds !== undefined).map((s) => [s.name, s.seconds!]))
  runs.push({ nodes, kind, seconds, rssMiB, stages })
  console.log(`${String(nodes).padStart(4)} nodes  ${kind.padEnd(16)} ${seconds.toFixed(1).padStart(6)} s  ${rssMiB.toFixed(0).padStart(4)} MiB  ${Object.entries(stages).map(([n, s]) => `${n} ${s}`).join(', ')}`)
}

try {
  for (let round = 0; round < rounds; round++) {
    for (const nodes of sizes) {
      const here = join(dir, `${nodes}-${round}`)
      const overlay = join(here, 'overlay')
      await mkdir(join(overlay, 'rootfs/etc'), { recursive: true })
      await writeFile(join(overlay, 'rootfs/etc/motd'), 'fleet bench\n')
      const recipe = join(here, 'recipe.ts')
      await writeRecipe(recipe, overlay, nodes)
      const out = join(here, 'out')
      await timed(nodes, 'first build', recipe, out)
      await timed(nodes, 'unchanged', recipe, out)
      await writeFile(join(overlay, 'rootfs/etc/motd'), `fleet bench, changed in round ${round}\n`)
      await timed(nodes, 'one file changed', recipe, out)
      await clean(out)
      await rm(here, { recursive: true, force: true })
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true })
}

const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!
const rows = sizes.flatMap((nodes) =>
  KINDS.map((kind) => {
    const of = (n: number) => runs.filter((r) => r.nodes === n && r.kind === kind)
    const seconds = median(of(nodes).map((r) => r.seconds))
    // Each kind of rebuild against the first build of the same fleet, round by round (same load), then the median.
    const firsts = runs.filter((r) => r.nodes === nodes && r.kind === 'first build')
    const ofFirst = median(of(nodes).map((r, i) => r.seconds / firsts[i]!.seconds))
    return { nodes, kind, seconds, rssMiB: Math.max(...of(nodes).map((r) => r.rssMiB)), ratio: seconds / median(of(sizes[0]!).map((r) => r.seconds)), ofFirst }
  }),
)
console.log(`\nnodes  build             median s  peak RSS  ÷ ${sizes[0]} nodes  ÷ first build`)
for (const row of rows) console.log(`${String(row.nodes).padStart(5)}  ${row.kind.padEnd(16)} ${row.seconds.toFixed(1).padStart(8)}  ${row.rssMiB.toFixed(0).padStart(4)} MiB  ${row.ratio.toFixed(2).padStart(11)}  ${`${(row.ofFirst * 100).toFixed(1)} %`.padStart(13)}`)
console.log(JSON.stringify({ rounds, rows, runs }))
