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
 *   node bench/apt.ts [--arch arm64|armhf] [--image raspios.img] [--rounds N] [--quick] [package…]
 *
 * The image is the demo image of that architecture (built once, see src/demo), or `--image`.
 * Each round runs them all in that order, with a new empty cache (other builds on a shared machine
 * make single runs noisy: take several rounds). `--quick` leaves out the recommends runs. Prints
 * every run, then the median seconds of each kind of run and plain ÷ that.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { stepContext } from '../src/customize/context.ts'
import { installPackages } from '../src/customize/apt.ts'
import { buildDemoImage } from '../src/demo/build.ts'
import { Cleanup } from '../src/system/cleanup.ts'
import { exec } from '../src/system/exec.ts'
import { attachLoop } from '../src/system/losetup.ts'
import { mount, mountOverlay } from '../src/system/mount.ts'
import { bootAndRoot, readPartitionTable } from '../src/system/partitions.ts'

const DEFAULT_PACKAGES = ['nfs-common', 'openssh-server', 'less', 'tree', 'rsync', 'curl', 'htop', 'vim-tiny', 'lsof', 'strace']

/** The plain way, as people write it by hand: the namespace only keeps the mounts from leaking. */
const PLAIN = `root=$1; shift
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
cat /etc/resolv.conf > "$root/etc/resolv.conf"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"`

interface Run {
  readonly name: string
  /** Runs the install in `root` with the apt cache `cache`; returns how many packages were newly installed. */
  readonly install: (root: string, cache: string) => Promise<number>
}

const { values, positionals } = parseArgs({
  options: { arch: { type: 'string', default: 'arm64' }, image: { type: 'string' }, rounds: { type: 'string', default: '1' }, quick: { type: 'boolean' } },
  allowPositionals: true,
})
const arch = values.arch === 'armhf' ? 'armhf' : 'arm64'
const packages = positionals.length ? positionals : DEFAULT_PACKAGES
const rounds = Math.max(1, Number(values.rounds) || 1)
const repo = join(import.meta.dirname, '..')
const image = values.image ?? (await buildDemoImage({ arch, outDir: join(repo, 'out/demo') })).img
const work = await mkdtemp(join(tmpdir(), 'pibake-bench-apt-'))
const cleanup = new Cleanup()
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
  const base = await mountBase(image)
  const seconds = new Map<string, number[]>()
  const installed = new Map<string, number>()
  console.log(`${arch} image ${image}, packages: ${packages.join(' ')}; ${rounds} round(s)`)
  for (let round = 1; round <= rounds; round++) {
    const cache = join(work, `cache-${round}`)
    for (const [i, run] of runs.entries()) {
      const root = await freshLayer(base, `${round}-${i}`)
      const started = process.hrtime.bigint()
      const count = await run.install(root, cache)
      const taken = Number(process.hrtime.bigint() - started) / 1e9
      seconds.set(run.name, [...(seconds.get(run.name) ?? []), taken])
      installed.set(run.name, count)
      console.log(`round ${round}: ${run.name}: ${taken.toFixed(1)} s, ${count} packages newly installed`)
    }
  }
  const plain = median(seconds.get(runs[0]!.name) ?? [])
  console.log(`\n${'run (median)'.padEnd(32)} ${'seconds'.padStart(8)} ${'packages'.padStart(9)} ${'plain ÷ run'.padStart(12)}`)
  for (const run of runs) {
    const taken = median(seconds.get(run.name) ?? [])
    console.log(`${run.name.padEnd(32)} ${taken.toFixed(1).padStart(8)} ${String(installed.get(run.name)).padStart(9)} ${(plain / taken).toFixed(2).padStart(11)}×`)
  }
} finally {
  const errors = await cleanup.run()
  for (const error of errors) console.error(error.message)
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

async function mountBase(img: string): Promise<string> {
  const { root } = bootAndRoot(await readPartitionTable(img), img)
  const device = await attachLoop(cleanup, img, { offset: root.offset, sizelimit: root.size, readOnly: true })
  const target = join(work, 'base')
  await mount(cleanup, device, target, { type: 'ext4', options: ['ro', 'noload'] })
  return target
}

/** A new overlay layer over the image's root; unmounted (and removed) when the bench ends. */
async function freshLayer(base: string, name: string): Promise<string> {
  const dir = join(work, 'layers', name)
  await mkdir(join(dir, 'upper'), { recursive: true })
  await mkdir(join(dir, 'work'), { recursive: true })
  const root = join(dir, 'root')
  await mountOverlay(cleanup, root, { lower: [base], upper: join(dir, 'upper'), work: join(dir, 'work') })
  return root
}

async function runPlain(root: string, names: readonly string[]): Promise<number> {
  const { stdout } = await exec(['unshare', '--mount', '--propagation', 'private', 'sh', '-euc', PLAIN, 'plain', root, ...names])
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
