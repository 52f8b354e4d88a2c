/**
 * How much faster a `packages` step installs than a plain `chroot <root> apt-get install -y …`,
 * measured side by side on the same demo image under the same qemu-user, each run on a fresh
 * overlay layer over the image's read-only root:
 *
 *   plain             unshare + proc/sys/dev + host resolv.conf, then chroot apt-get install -y
 *                     (apt's defaults: recommends, the image's own lists, downloads into the image)
 *   pibake, cold      the packages step with an empty apt cache (so it runs apt-get update first)
 *   pibake, warm      the same step again: lists and .debs come from the cache (a rebuild)
 *   … recommends      the same two with `recommends: true`, which installs what plain installs
 *
 *
 * Then the per-step cache: `pibake build` of a recipe whose customize steps are that packages step
 * and a `write`, then the same recipe with only the `write` edited. Before the step chain, the
 * whole stage ran again (the apt install too); now the write step alone runs.
 *
 *   node bench/apt.ts [--arch arm64|armhf] [--image raspios.img] [--rounds N] [--quick] [--no-chain] [package…]
 *
 * The image is the demo image of that architecture (built once, see src/demo), or `--image`.
 * Each round runs them all in that order, with a new empty cache (other builds on a shared machine
 * make single runs noisy: take several rounds). `--quick` leaves out the recommends runs,
 * `--no-chain` the per-step cache. Prints every run, then the median seconds (wall clock, and CPU:
 * user + system of every process the run started, which other work on the machine disturbs less)
 * of each kind of run and plain ÷ that, then the whole as one line of JSON.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { stepContext } from '../src/customize/context.ts'
import { installPackages } from '../src/customize/apt.ts'
import { build } from '../src/build.ts'
import type { BuildEvent } from '../src/pipeline/events.ts'
import { fileSha256 } from '../src/stages/image.ts'
import { buildDemoImage } from '../src/demo/build.ts'
import { Cleanup } from '../src/system/cleanup.ts'
import { freshLayer, inChroot, median, mountBase, round1, timed, undoOnSignal } from './chroot-layers.ts'

const DEFAULT_PACKAGES = ['nfs-common', 'openssh-server', 'less', 'tree', 'rsync', 'curl', 'htop', 'vim-tiny', 'lsof', 'strace']

interface Run {
  readonly name: string
  /** Runs the install in `root` with the apt cache `cache`; returns how many packages were newly installed. */
  readonly install: (root: string, cache: string) => Promise<number>
}

const { values, positionals } = parseArgs({
  options: { arch: { type: 'string', default: 'arm64' }, image: { type: 'string' }, rounds: { type: 'string', default: '1' }, quick: { type: 'boolean' }, 'no-chain': { type: 'boolean' } },
  allowPositionals: true,
})
const arch = values.arch === 'armhf' ? 'armhf' : 'arm64'
const packages = positionals.length ? positionals : DEFAULT_PACKAGES
const rounds = Math.max(1, Number(values.rounds) || 1)
const repo = join(import.meta.dirname, '..')
const image = values.image ?? (await buildDemoImage({ arch, outDir: join(repo, 'out/demo') })).img
const work = await mkdtemp(join(tmpdir(), 'pibake-bench-apt-'))
const cleanup = new Cleanup()
undoOnSignal(cleanup)
cleanup.defer(`remove ${work}`, () => rm(work, { recursive: true, force: true }))
const pibake = (recommends: boolean) => (root: string, cache: string) => runPibake(root, cache, packages, recommends)
const runs: Run[] = [
  { name: 'plain chroot apt-get install -y', install: (root) => runPlain(root, packages) },
  { name: 'pibake, cold cache', install: pibake(false) },
  { name: 'pibake, warm cache', install: pibake(false) },
  ...(values.quick
    ? []
    : [
        { name: 'pibake recommends, cold cache', install: pibake(true) },
        { name: 'pibake recommends, warm cache', install: pibake(true) },
      ]),
]
try {
  const base = await mountBase(cleanup, image, work)
  const seconds = new Map<string, number[]>()
  const cpu = new Map<string, number[]>()
  const installed = new Map<string, number>()
  console.log(`${arch} image ${image}, packages: ${packages.join(' ')}; ${rounds} round(s)`)
  for (let round = 1; round <= rounds; round++) {
    const cache = join(work, `cache-${round}`)
    for (const [i, run] of runs.entries()) {
      const root = await freshLayer(cleanup, base, work, `${round}-${i}`)
      const { wall, cpu: used, result: count } = await timed(() => run.install(root, cache))
      seconds.set(run.name, [...(seconds.get(run.name) ?? []), wall])
      cpu.set(run.name, [...(cpu.get(run.name) ?? []), used])
      installed.set(run.name, count)
      console.log(`round ${round}: ${run.name}: ${wall.toFixed(1)} s (CPU ${used.toFixed(1)} s), ${count} packages newly installed`)
    }
  }
  const plain = median(seconds.get(runs[0]!.name) ?? [])
  const plainCpu = median(cpu.get(runs[0]!.name) ?? [])
  const rows = runs.map((run) => {
    const wall = median(seconds.get(run.name) ?? [])
    const used = median(cpu.get(run.name) ?? [])
    return { run: run.name, seconds: round1(wall), cpuSeconds: round1(used), packages: installed.get(run.name) ?? 0, speedup: round2(plain / wall), cpuSpeedup: round2(plainCpu / used) }
  })
  console.log(`\n${'run (median)'.padEnd(32)} ${'seconds'.padStart(8)} ${'CPU s'.padStart(7)} ${'packages'.padStart(9)} ${'plain ÷ run'.padStart(12)} ${'CPU: plain ÷ run'.padStart(17)}`)
  for (const row of rows) {
    console.log(`${row.run.padEnd(32)} ${row.seconds.toFixed(1).padStart(8)} ${row.cpuSeconds.toFixed(1).padStart(7)} ${String(row.packages).padStart(9)} ${row.speedup.toFixed(2).padStart(11)}× ${row.cpuSpeedup.toFixed(2).padStart(16)}×`)
  }
  const chain = values['no-chain'] ? undefined : await chainFigure()
  if (chain) {
    console.log(`\nper-step cache (packages step + write, then only the write edited), customize stage:`)
    console.log(`  first build ${chain.first.toFixed(1)} s (CPU ${chain.firstCpu.toFixed(1)} s); after editing the write ${chain.edited.toFixed(1)} s (CPU ${chain.editedCpu.toFixed(1)} s), steps run: ${chain.ran.join(', ')}`)
  }
  console.log(`\n${JSON.stringify({ bench: 'apt', arch, packages, rounds, runs: rows, chain })}`)
} finally {
  const errors = await cleanup.run()
  for (const error of errors) console.error(error.message)
}

/**
 * The customize stage of a build whose steps are the packages step and a write, then of the same
 * recipe with the write edited (a new file: Node keeps the first one it imported).
 */
async function chainFigure() {
  const dir = await mkdtemp(join(work, 'chain-'))
  const out = join(dir, 'out')
  const sha256 = await fileSha256(image, join(dir, 'checksums.json'))
  const recipe = async (name: string, content: string) => {
    const file = join(dir, `${name}.ts`)
    await writeFile(file, `export default {
  name: 'bench-chain',
  image: { path: ${JSON.stringify(image)}, sha256: ${JSON.stringify(sha256)} },
  netboot: { server: '10.99.0.1', dhcp: { mode: 'proxy', network: '10.99.0.0' }, nfs: { server: '10.99.0.2' } },
  nodes: [{ hostname: 'bench', mac: 'dc:a6:32:00:00:99', model: '4B' }],
  customize: [
    { kind: 'packages', install: ${JSON.stringify(packages)} },
    { kind: 'write', path: '/etc/pibake-bench', content: ${JSON.stringify(content)} },
  ],
}
`)
    return file
  }
  const customize = async (file: string) => {
    const events: BuildEvent[] = []
    const { cpu: used } = await timed(() => build(file, { outDir: out, skip: ['publish'], onEvent: (e) => events.push(e) }))
    const end = events.find((e) => e.type === 'stage-end' && e.stage === 'customize')
    const ran = events.flatMap((e) => (e.type === 'step' && e.stage === 'customize' && !e.cached ? [e.step.replace(/ \(.*\)$/, '')] : []))
    return { seconds: end?.type === 'stage-end' ? (end.ms ?? 0) / 1000 : NaN, cpu: used, ran }
  }
  const first = await customize(await recipe('first', 'one\n'))
  const edited = await customize(await recipe('edited', 'two\n'))
  return { first: round1(first.seconds), firstCpu: round1(first.cpu), edited: round1(edited.seconds), editedCpu: round1(edited.cpu), ran: edited.ran }
}

function round2(value: number): number {
  return Math.round(value * 100) / 100
}

async function runPlain(root: string, names: readonly string[]): Promise<number> {
  // The plain way, as people write it by hand.
  const { stdout } = await inChroot(root, ['chroot', root, 'apt-get', 'install', '-y', ...names])
  return newlyInstalled(stdout)
}

async function runPibake(root: string, cacheDir: string, names: readonly string[], recommends: boolean): Promise<number> {
  let installed = 0
  const log = (line: string) => {
    installed = Math.max(installed, newlyInstalled(line))
  }
  const scratch = await mkdtemp(join(work, 'scratch-'))
  const ctx = stepContext({ root, arch, cacheDir, refresh: false, scratch, signal: new AbortController().signal, log, info: () => {} })
  await installPackages({ kind: 'packages', install: names, upgrade: false, recommends, index: 0, at: { file: 'bench/apt.ts' } }, ctx)
  return installed
}

function newlyInstalled(text: string): number {
  return Number(/(\d+) newly installed/.exec(text)?.[1] ?? 0)
}
