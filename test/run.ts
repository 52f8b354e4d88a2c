/**
 * Runs test files, each in its own Node process and process group, one after the other: each file's
 * servers, mounts and loop devices are its own to start and stop.
 *
 *   node test/run.ts [--quick | --wide] [--one-lane] [--timeout DURATION] [--list] [files or folders]
 *
 * With no files or folders, every `test/**\/*.test.ts` (folders named `fixtures` are skipped).
 *   --quick             only the quick tier: every file not in SLOW below (unit and tiny-image tests;
 *                       `scripts/test.sh --quick` adds the type-check). Run it before every commit.
 *   --wide              the whole suite and the wide tier (WIDE below): boots that widen a proof
 *                       already made in the suite to more images, too long for CI's time budget.
 *                       A wide file named on the command line runs without --wide.
 *   --timeout DURATION  every file's time limit for this run: 90s, 40m, 2h (plain numbers are seconds).
 *   --one-lane          every file one after the other (see Lanes below).
 *   --list              print the files that would run, lane by lane in the order they would run,
 *                       with their tier and time limit; run nothing.
 *
 * Lanes: a run with files of both tiers runs them in two lanes at once: the slow (and wide) files one
 * after the other, their output as it comes; beside them the quick files one after the other, then
 * the slow files of BESIDE, each one's output printed whole when it ends. The slow lane's files never
 * run beside each other (they share the demo images, out/test-* folders and the host's side of their
 * test LANs); a quick file needs none of that (its own temporary folder and namespaces), nor does a
 * file of BESIDE (see there). The slow lane's order is NO_DEMO_IMAGE first, TRIXIE_IMAGE last.
 *
 * Time limits: a file in SLOW has its own; every other file has DEFAULT_LIMIT (15 min). Change a
 * file's limit in SLOW (put a quick file there to give it a longer one), or for one run with
 * --timeout. When a file's time is up, its whole process group gets SIGTERM, then SIGKILL 30 s
 * later (or after the limit, when that is shorter), and the file fails: "timed out after N s".
 *
 * A file passes when it exits 0 and uvu's totals show at least one test, all passed. It fails when
 * a test fails, it exits otherwise, prints no uvu totals, ran no tests ("Total: 0"), runs out of
 * time, or leaves processes of its group running after it exits (they are stopped). The run fails
 * when a file fails or no test ran at all. It ends with the plain line `N passed, N failed`.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { runLanes } from './lanes.ts'

const MIN = 60_000
const DEFAULT_LIMIT = 15 * MIN
/** A bookworm demo image from scratch: 5 min on a quiet machine, several times that beside other builds. */
const BOOKWORM = 45 * MIN
/** A trixie demo image from scratch: 19 min on a quiet machine, an hour on a busy one. */
const TRIXIE = 120 * MIN
/** Many tiny-image builds, or publishes over real sshd: over a minute each here beside other work. */
const LONG = 30 * MIN

/**
 * The slow tier, with each file's time limit: files that need a demo image (built on first use,
 * reused from out/demo after; `scripts/test.sh` builds all four first), a QEMU boot, or long builds
 * (those took over a minute on a loaded 2-core machine). Every file not listed is in the quick tier.
 */
const SLOW: Readonly<Record<string, number>> = {
  'test/boot/nfsroot.test.ts': BOOKWORM, // QEMU boots
  'test/boot/roots-overlay.test.ts': 3 * BOOKWORM, // two builds into out/test-roots, two QEMU boots at once, twice
  'test/boot/roots-ram.test.ts': 3 * BOOKWORM, // two builds into out/test-roots, two QEMU boots at once, a reboot
  'test/boot/persist.test.ts': 2 * BOOKWORM, // two builds, three QEMU boots (two at once)
  'test/boot/nfs-tier.test.ts': 2 * BOOKWORM, // two builds, three QEMU boots (two at once)
  'test/boot/tftp.test.ts': BOOKWORM,
  'test/boot/trixie.test.ts': TRIXIE, // QEMU boots
  'test/customize/build-trixie.test.ts': TRIXIE,
  'test/customize/build.test.ts': BOOKWORM,
  'test/customize/chain.test.ts': BOOKWORM,
  'test/customize/failures.test.ts': BOOKWORM,
  'test/customize/host-tools.test.ts': BOOKWORM,
  'test/customize/steps.test.ts': BOOKWORM,
  'test/customize/trixie.test.ts': TRIXIE,
  'test/demo/abort.test.ts': BOOKWORM, // starts a build from scratch, stops it in debootstrap
  'test/demo/image.test.ts': TRIXIE + 2 * BOOKWORM, // three images
  'test/faults/caches.test.ts': LONG,
  'test/faults/killed.test.ts': LONG, // ten builds killed, each cleaned and built again
  'test/faults/layouts.test.ts': LONG,
  'test/helpers/leftovers.test.ts': LONG,
  'test/init/demo-build.test.ts': BOOKWORM, // the armhf demo image, init, a build, a QEMU boot
  'test/package/install.test.ts': BOOKWORM,
  'test/pipeline/lock.test.ts': LONG,
  'test/pipeline/symlinked-out.test.ts': BOOKWORM,
  'test/publish/fleet.test.ts': LONG,
  'test/publish/lock-ssh.test.ts': LONG, // four racers over real sshd
  'test/publish/lock.test.ts': LONG,
  'test/publish/persist.test.ts': LONG, // seeds over real sshd
  'test/publish/ssh.test.ts': LONG,
  'test/try/try.test.ts': TRIXIE, // a trixie build, two QEMU boots (one records the root read set) and one stopped
  'test/recipes/cluster-node.test.ts': BOOKWORM,
  'test/rehearse/rehearse.test.ts': BOOKWORM, // the demo image's boot files (built on first use)
  'test/rehearse/storm.test.ts': BOOKWORM, // one 80-node storm with the boot loop against real dnsmasq (~170 s)
  'test/rehearse/root-phase.test.ts': BOOKWORM, // the demo image's boot files; storms of 6, 2 and 4 nodes against real ganesha
  'test/rehearse/root-ports.test.ts': BOOKWORM, // the demo image's boot files; two storms of 3 nodes against real ganesha
  'test/rehearse/root-stop.test.ts': BOOKWORM, // the demo image's boot files; a 1-node storm cut by its 30 s deadline
  'test/verify/demo.test.ts': BOOKWORM, // the demo build published over real sshd
  'test/repro/build.test.ts': BOOKWORM, // three builds of the demo image from scratch
  'test/sbom/published.test.ts': BOOKWORM, // the demo build published, rebuilt unchanged
  'test/schedule/schedule.test.ts': BOOKWORM,
  'test/site/discover.test.ts': LONG, // DHCP clients asking in network namespaces
  'test/system/chroot.test.ts': 2 * BOOKWORM, // arm64 and armhf
  'test/tarball/demo-roundtrip.test.ts': BOOKWORM, // the demo build, exported, imported and built again
  'test/web/serve.test.ts': BOOKWORM,
}

/**
 * The wide tier, with each file's time limit: boots that repeat, on more images, a proof the suite
 * already makes on one, and cost more CI time than the budget (60 min on a fresh machine) leaves.
 * They run with --wide (`scripts/test.sh --wide`) or when named; never in a plain run. Before a
 * change to what they cover (src/roots/, the initramfs, the demo images) lands, run them.
 */
const WIDE: Readonly<Record<string, number>> = {
  // The trixie armhf demo image, and a build on it: the suite proves trixie on arm64 and armhf on
  // bookworm; the image alone costs CI 10–19 min of a core from scratch.
  'test/demo/image-more.test.ts': TRIXIE,
  // A customised build on it, under qemu-arm (the suite: trixie arm64, bookworm armhf).
  'test/customize/build-trixie-armhf.test.ts': TRIXIE,
  // ram + overlay on trixie arm64 and bookworm armhf: two initramfs rebuilds under emulation, two
  // images, four boots (~25 min here). The same on bookworm arm64 is in the suite (roots-*.test.ts).
  'test/boot/roots-more.test.ts': 4 * BOOKWORM,
}

/**
 * Slow files that run in the second lane, after the quick files, beside the slow lane: none reads a
 * demo image or anything under out/ (each works in a temporary folder of its own: makeProject,
 * mkdtemp), and those that plug this host into a test LAN (attachHere) use a /24 that no other file
 * uses (publish/ssh 10.79.0, publish/persist 10.79.1, publish/lock-ssh 10.87.0; the slow lane's:
 * boot/nfsroot 10.77.0, verify/demo 10.83.0). The whole suite is CPU-bound while the demo images
 * are built, and the slow lane alone after that: these ~15 min of work (measured beside the builds)
 * done beside it shorten the run's longest lane by as much, the lane the run waits for. demo/abort
 * stays in the slow lane: it builds under out/ (out/demo-abort). Every file here needs no demo image
 * (NO_DEMO_IMAGE includes them).
 */
const BESIDE: ReadonlySet<string> = new Set([
  'test/faults/caches.test.ts',
  'test/faults/killed.test.ts',
  'test/faults/layouts.test.ts',
  'test/helpers/leftovers.test.ts',
  'test/pipeline/lock.test.ts',
  'test/publish/fleet.test.ts',
  'test/publish/lock-ssh.test.ts',
  'test/publish/lock.test.ts',
  'test/publish/persist.test.ts',
  'test/publish/ssh.test.ts',
  'test/site/discover.test.ts',
])
/**
 * The order of the slow lane. The whole suite builds its demo images while the tests run
 * (scripts/test.sh), and a file that needs an image still being built waits for it (the build's
 * lock). So the slow lane starts with the files that need no demo image, and ends with those that
 * need the trixie arm64 one, whose build from scratch takes longest; the others run in between.
 * Within each group, path order. A file put in the wrong group still runs right: it only waits.
 */
const NO_DEMO_IMAGE: ReadonlySet<string> = new Set([
  'test/demo/abort.test.ts', // its own build into out/demo-abort, stopped in debootstrap
  ...BESIDE,
])
const TRIXIE_IMAGE: ReadonlySet<string> = new Set([
  'test/boot/roots-more.test.ts',
  'test/boot/trixie.test.ts',
  'test/customize/build-trixie.test.ts',
  'test/customize/build-trixie-armhf.test.ts',
  'test/customize/trixie.test.ts',
  'test/demo/image.test.ts',
  'test/demo/image-more.test.ts',
  'test/try/try.test.ts',
])
const groupOf = (name: string) => (NO_DEMO_IMAGE.has(name) ? 0 : TRIXIE_IMAGE.has(name) ? 2 : 1)

const root = join(import.meta.dirname, '..')
const { values, positionals } = parseArgs({
  options: { quick: { type: 'boolean' }, wide: { type: 'boolean' }, 'one-lane': { type: 'boolean' }, timeout: { type: 'string' }, list: { type: 'boolean' } },
  allowPositionals: true,
})
const timeout = values.timeout === undefined ? undefined : parseDuration(values.timeout)

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text)
  if (!m) fail(`--timeout ${text}: expected a duration such as 90s, 40m or 2h`)
  return Number(m[1]) * { s: 1000, m: MIN, h: 60 * MIN }[m[2] as 's' | 'm' | 'h' | undefined ?? 's']
}

function fail(message: string): never {
  console.error(`run.ts: ${message}`)
  process.exit(2)
}

function collect(path: string): string[] {
  if (!existsSync(path)) fail(`no such file or folder: ${path}`)
  if (statSync(path).isFile()) return [path]
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const full = join(path, entry.name)
      if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : collect(full)
      return entry.name.endsWith('.test.ts') ? [full] : []
    })
}

// A file renamed or removed must leave the table too, or it would quietly join the quick tier under a new name.
for (const name of [...Object.keys(SLOW), ...Object.keys(WIDE)]) if (!existsSync(join(root, name))) fail(`SLOW or WIDE lists ${name}, which does not exist`)
for (const name of [...NO_DEMO_IMAGE, ...TRIXIE_IMAGE, ...BESIDE]) if (!(name in SLOW || name in WIDE)) fail(`NO_DEMO_IMAGE, TRIXIE_IMAGE or BESIDE lists ${name}, which is in neither SLOW nor WIDE`)
if (values.quick && values.wide) fail('--quick and --wide: choose one')

const named = new Set(positionals.map((target) => relative(root, resolve(target))))
const files = (positionals.length ? positionals : [join(root, 'test')])
  .flatMap((target) => collect(resolve(target)))
  .map((file) => relative(root, file))
  .filter((name) => !(values.quick && (name in SLOW || name in WIDE)))
  .filter((name) => !(name in WIDE) || values.wide || named.has(name))
const limitOf = (name: string) => timeout ?? SLOW[name] ?? WIDE[name] ?? DEFAULT_LIMIT
const tierOf = (name: string) => (name in WIDE ? 'wide' : name in SLOW ? 'slow' : 'quick')


// Ctrl-C or SIGTERM: the files' own process groups do not get the terminal's signal; stop them, then end.
const stop = new AbortController()
let interrupted: NodeJS.Signals | undefined
for (const name of ['SIGINT', 'SIGTERM'] as const) {
  process.on(name, () => {
    interrupted = name
    stop.abort(`stopped: the runner got ${name}`)
  })
}

const slow = files.filter((name) => tierOf(name) !== 'quick' && !BESIDE.has(name)).sort((a, b) => groupOf(a) - groupOf(b))
const beside = [...files.filter((name) => tierOf(name) === 'quick'), ...files.filter((name) => BESIDE.has(name))]
const lanes = values['one-lane'] || !slow.length || !beside.length ? [files] : [slow, beside]

if (values.list) {
  for (const [i, lane] of lanes.entries()) {
    if (lanes.length > 1) console.log(`lane ${i + 1}:`)
    for (const name of lane) console.log(`${name}  ${tierOf(name)}, ${limitOf(name) / MIN} min`)
  }
  process.exit(0)
}
const results = await runLanes(lanes.map((names) => names.map((name) => ({ name, path: join(root, name), limitMs: limitOf(name) }))), stop.signal)
let passed = 0
let failed = 0
let skipped = 0
const failedFiles: string[] = []
for (const { name, result } of results) {
  passed += result.passed
  failed += result.failed
  skipped += result.skipped
  if (result.failed) failedFiles.push(name)
}
if (failedFiles.length) console.log(`\nfailed: ${failedFiles.join(', ')}`)
if (interrupted) console.log(`\nrun.ts: stopped by ${interrupted}`)
if (!interrupted && passed + failed === 0) console.log(`\nrun.ts: no test ran (${files.length} test files${values.quick ? ' in the quick tier' : ''}): that is a failure`)
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(interrupted ? 130 : failed || passed === 0 ? 1 : 0)
