/**
 * Where an emulated install's time goes, and what unpacking natively would save: the issue's lead
 * "unpack natively where dpkg allows, leave only maintainer scripts and triggers to emulation",
 * measured. The same .debs (what a plain `apt-get install -y` of the bench's packages, recommends
 * included, would install) are installed three ways, each on a fresh overlay layer over the demo
 * image's root:
 *
 *   apt-get           the image's apt-get install -y, in the chroot (the plain run of bench/apt.ts,
 *                     downloads excluded)
 *   emulated dpkg     the image's dpkg --unpack of the .debs, then its dpkg --configure -a: the two
 *                     phases timed apart
 *   native unpack     this host's dpkg --root=<root> --force-architecture --unpack (decompression and
 *                     file extraction native; preinst scripts still chrooted, emulated), then the
 *                     image's dpkg --configure -a as above
 *   + host tools      the same, with this host's dash, coreutils, sed, grep and findutils (and its
 *                     x86-64 libraries) mounted over the image's for the configure: the maintainer
 *                     scripts' shell and the programs they start most run natively. A trial of the
 *                     lead, not something pibake does: they are other versions than the image's.
 *
 *   node bench/apt-phases.ts [--arch arm64|armhf] [--rounds N] [package…]
 *
 * Prints each run's wall-clock and CPU seconds (user + system of every process it started) per
 * phase, which paths the natively unpacked tree has that differ from the emulated dpkg's (modes,
 * owners, contents, links; not times), then the medians and apt-get ÷ each, and one line of JSON.
 */
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildDemoImage } from '../src/demo/build.ts'
import { diffSnapshots, takeSnapshot } from '../src/snapshot/index.ts'
import { Cleanup } from '../src/system/cleanup.ts'
import { exec } from '../src/system/exec.ts'
import { freshLayer, inChroot, median, mountBase, round1, timed, undoOnSignal } from './chroot-layers.ts'

const DEFAULT_PACKAGES = ['nfs-common', 'openssh-server', 'less', 'tree', 'rsync', 'curl', 'htop', 'vim-tiny', 'lsof', 'strace']

const { values, positionals } = parseArgs({ options: { arch: { type: 'string', default: 'arm64' }, rounds: { type: 'string', default: '1' } }, allowPositionals: true })
const arch = values.arch === 'armhf' ? 'armhf' : 'arm64'
const packages = positionals.length ? positionals : DEFAULT_PACKAGES
const rounds = Math.max(1, Number(values.rounds) || 1)
const repo = join(import.meta.dirname, '..')
const image = (await buildDemoImage({ arch, outDir: join(repo, 'out/demo') })).img
const work = await mkdtemp(join(tmpdir(), 'pibake-bench-apt-phases-'))
const cleanup = new Cleanup()
undoOnSignal(cleanup)
cleanup.defer(`remove ${work}`, () => rm(work, { recursive: true, force: true }))

const RUNS = ['apt-get', 'emulated dpkg', 'native unpack', '+ host tools'] as const
type Phases = Record<string, { wall: number; cpu: number }>
const results: { run: string; phases: Phases }[] = []
let emulatedRoot: string | undefined
/** Per round: how many paths the natively unpacked tree has that differ from the emulated dpkg's. */
const differences: number[] = []

try {
  const base = await mountBase(cleanup, image, work)
  // The .debs, fetched once by the image's own apt (as the plain run would), kept outside the layers.
  const debs = join(work, 'debs')
  await mkdir(debs, { recursive: true })
  const fetcher = await freshLayer(cleanup, base, work, 'fetch')
  await inChroot(fetcher, ['chroot', fetcher, 'apt-get', 'install', '-y', '--download-only', '-o', `Dir::Cache::archives=/var/cache/apt/archives`, ...packages])
  const archives = join(fetcher, 'var/cache/apt/archives')
  const names = (await readdir(archives)).filter((name) => name.endsWith('.deb')).sort()
  for (const name of names) await exec(['cp', join(archives, name), join(debs, name)])
  console.log(`${arch}: ${names.length} .debs for ${packages.join(' ')} (recommends included)`)
  for (let round = 1; round <= rounds; round++) {
    for (const run of RUNS) {
      const root = await freshLayer(cleanup, base, work, `${round}-${run.replace(/ /g, '-')}`)
      // The .debs where the image's own tools find them, outside the tree that is compared.
      const inside = join(root, 'var/cache/apt/archives')
      for (const name of names) await exec(['cp', join(debs, name), join(inside, name)])
      const phases: Phases = {}
      if (run === 'apt-get') {
        phases.install = await timed(() => inChroot(root, ['chroot', root, 'apt-get', 'install', '-y', ...packages]))
      } else {
        const native = run !== 'emulated dpkg'
        const files = names.map((name) => (native ? join(inside, name) : `/var/cache/apt/archives/${name}`))
        const unpack = native ? ['dpkg', `--root=${root}`, '--force-architecture', '--unpack', ...files] : ['chroot', root, 'dpkg', '--unpack', ...files]
        phases.unpack = await timed(() => inChroot(root, unpack))
        const binds = run === '+ host tools' ? await hostTools(root) : []
        phases.configure = await timed(() => inChroot(root, ['chroot', root, 'sh', '-c', 'dpkg --configure -a && dpkg --triggers-only -a'], binds))
        if (run === '+ host tools') for (const folder of ['usr/lib/x86_64-linux-gnu', 'lib64']) await rm(join(root, folder), { recursive: true, force: true })
      }
      results.push({ run, phases })
      if (run === 'emulated dpkg') emulatedRoot = root
      if (run !== 'apt-get' && run !== 'emulated dpkg' && emulatedRoot) {
        // The same .debs, installed either way: the trees should not differ (times and logs aside).
        const diff = diffSnapshots(await takeSnapshot(emulatedRoot), await takeSnapshot(root))
        const paths = [...diff.added.map((c) => `+${c.path}`), ...diff.removed.map((c) => `-${c.path}`), ...diff.changed.map((c) => `~${c.path} (${(c.fields ?? []).map((f) => f.field).join(', ')})`)]
        differences.push(paths.length)
        console.log(`round ${round}: ${run} vs emulated dpkg: ${paths.length} paths differ${paths.length ? `: ${paths.slice(0, 12).join(' ')}${paths.length > 12 ? ' …' : ''}` : ''}`)
      }
      const status = await installedCount(root)
      console.log(`round ${round}: ${run}: ${Object.entries(phases).map(([phase, t]) => `${phase} ${t.wall.toFixed(1)} s (CPU ${t.cpu.toFixed(1)} s)`).join(', ')}; ${status} packages installed`)
    }
  }
  const total = (phases: Phases, what: 'wall' | 'cpu') => Object.values(phases).reduce((sum, t) => sum + t[what], 0)
  const med = (run: string, what: 'wall' | 'cpu', phase?: string) => median(results.filter((r) => r.run === run).map((r) => (phase ? (r.phases[phase]?.[what] ?? NaN) : total(r.phases, what))))
  console.log(`\n${'run (median)'.padEnd(16)} ${'unpack s'.padStart(9)} ${'CPU'.padStart(6)} ${'configure s'.padStart(12)} ${'CPU'.padStart(6)} ${'total s'.padStart(8)} ${'CPU'.padStart(6)} ${'apt-get ÷ run, CPU'.padStart(19)}`)
  const rows = RUNS.map((run) => ({
    run,
    unpack: round1(med(run, 'wall', 'unpack')),
    unpackCpu: round1(med(run, 'cpu', 'unpack')),
    configure: round1(med(run, 'wall', 'configure')),
    configureCpu: round1(med(run, 'cpu', 'configure')),
    total: round1(med(run, 'wall')),
    totalCpu: round1(med(run, 'cpu')),
    cpuSpeedup: Math.round((med('apt-get', 'cpu') / med(run, 'cpu')) * 100) / 100,
  }))
  const cell = (n: number, width: number) => (Number.isNaN(n) ? '–' : n.toFixed(1)).padStart(width)
  for (const row of rows) console.log(`${row.run.padEnd(16)} ${cell(row.unpack, 9)} ${cell(row.unpackCpu, 6)} ${cell(row.configure, 12)} ${cell(row.configureCpu, 6)} ${cell(row.total, 8)} ${cell(row.totalCpu, 6)} ${row.cpuSpeedup.toFixed(2).padStart(18)}×`)
  console.log(`\n${JSON.stringify({ bench: 'apt-phases', arch, packages, debs: names.length, rounds, rows, differences })}`)
} finally {
  const errors = await cleanup.run()
  for (const error of errors) console.error(error.message)
}

/**
 * This host's dash, coreutils, sed, grep and findutils mounted over the image's programs of the
 * same names, with the x86-64 libraries and loader they need (at paths an arm image lacks, made
 * here and removed after).
 */
async function hostTools(root: string): Promise<[string, string][]> {
  const { stdout } = await exec(['dpkg', '-L', 'dash', 'coreutils', 'sed', 'grep', 'findutils'])
  const binds: [string, string][] = []
  for (const listed of new Set(stdout.split('\n').filter((path) => /^\/(usr\/)?s?bin\/[^/]+$/.test(path)))) {
    const name = listed.split('/').pop()!
    for (const dir of ['usr/bin', 'usr/sbin']) {
      const target = join(root, dir, name)
      const isFile = await stat(target).then((s) => s.isFile(), () => false)
      if (isFile) {
        binds.push([await realpath(listed), `/${dir}/${name}`])
        break
      }
    }
  }
  for (const [source, folder] of [['/usr/lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu'], [await realpath('/lib64'), 'lib64']] as const) {
    await mkdir(join(root, folder), { recursive: true })
    binds.push([source, `/${folder}`])
  }
  return binds
}

async function installedCount(root: string): Promise<number> {
  const status = await readFile(join(root, 'var/lib/dpkg/status'), 'utf8')
  return status.split('\n\n').filter((entry) => /^Status: install ok installed$/m.test(entry)).length
}
