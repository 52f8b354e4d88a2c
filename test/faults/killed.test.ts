/**
 * Killed anywhere: `pibake build` run as a person runs it (the command line, a recipe file) and
 * SIGKILLed with every program it runs (its process group, as systemd kills a unit's) at moments
 * spread over every stage, customize and publish included: each time
 * `pibake clean` and then a plain re-run must succeed and publish what an uninterrupted build
 * publishes, leaving no loop device, mount or `.partial` tree behind. SIGTERM, as `timeout` and
 * systemd send it, stops a build like Ctrl-C: everything undone, exit status 130.
 *
 * The moments: the uninterrupted build's `--json` events give each stage's duration; a killed run
 * is watched through its own events and killed a random time into the stage chosen for the round.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, readlink, realpath, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { diffSnapshots, takeSnapshot, type Snapshot } from '../../src/snapshot/index.ts'
import { exec } from '../../src/system/exec.ts'
import { pibake, type CliRun } from '../helpers/cli.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { makeProject, type Project } from '../helpers/project.ts'
import { waitFor } from '../helpers/wait.ts'

/** Rounds, each killed in the next stage that runs in a cold build (every stage, twice over). */
const ROUNDS = 10

let project: Project
let recipeFile: string
/** Milliseconds each stage took in the uninterrupted build, in order. */
let stages: [string, number][] = []
let reference: Published
let out: string

const build = (out: string) => pibake(['build', recipeFile, '--out', out, '--json'])

/** What a build published: its content key, its root, and each node's boot files (build id masked). */
interface Published {
  readonly key: string
  readonly root: Snapshot
  readonly nodes: Record<string, { readonly files: Snapshot; readonly cmdline: string }>
}

const MACS = ['dc-a6-32-00-00-01', 'dc-a6-32-00-00-02']

async function published(out: string): Promise<Published> {
  const recipeDir = join(out, 'publish/nfs/killed')
  const live = await readlink(join(recipeDir, 'current'))
  const id = live.replace(/^builds\//, '')
  const nodes: Record<string, { files: Snapshot; cmdline: string }> = {}
  for (const mac of MACS) {
    const dir = await realpath(join(out, 'publish/tftp', mac))
    const files = await takeSnapshot(dir, { exclude: (path) => path === '/cmdline.txt' })
    nodes[mac] = { files, cmdline: (await readFile(join(dir, 'cmdline.txt'), 'utf8')).replaceAll(id, '<id>') }
  }
  // The id is the publish time and the first characters of the content key.
  return { key: id.split('-').pop() ?? '', root: await takeSnapshot(join(recipeDir, live)), nodes }
}

function assertSame(actual: Published, why: string): void {
  assert.is(actual.key, reference.key, `${why}: the published content key equals the uninterrupted build's`)
  const same = (a: Snapshot, b: Snapshot, what: string) => {
    const diff = diffSnapshots(a, b)
    assert.equal([diff.added, diff.removed, diff.changed], [[], [], []], `${why}: ${what} equals the uninterrupted build's`)
  }
  same(reference.root, actual.root, 'the published root')
  for (const mac of MACS) {
    same(reference.nodes[mac]!.files, actual.nodes[mac]!.files, `${mac}'s boot files`)
    assert.is(actual.nodes[mac]!.cmdline, reference.nodes[mac]!.cmdline, `${why}: ${mac}'s cmdline.txt`)
  }
}

async function partials(out: string): Promise<string[]> {
  const builds = join(out, 'publish/nfs/killed/builds')
  return (await readdir(builds).catch(() => [])).filter((name) => name.endsWith('.partial'))
}

test.before(async () => {
  // uvu counts a failing before hook as failed tests but never prints why: say it here.
  await setup().catch((error: unknown) => {
    process.stderr.write(`killed test setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  })
})

async function setup(): Promise<void> {
  project = await makeProject()
  // Enough files that every stage takes a moment: a big one, and a folder of many small ones that
  // the overlay carries and a customize step copies again.
  await writeFile(join(project.dir, 'big.bin'), randomBytes(8 * 1024 * 1024))
  await project.write('etc/motd', 'killed anywhere\n')
  // Copy steps look their owner up in the image's own account files, which the tiny image lacks.
  await project.write('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n')
  await project.write('etc/group', 'root:x:0:\n')
  const many = join(project.dir, 'files', 'many')
  await mkdir(many, { recursive: true })
  for (let i = 0; i < 600; i++) await writeFile(join(many, `f${i}`), `file ${i}\n`)
  await exec(['cp', '-a', many, join(project.overlay, 'rootfs/opt/')]).catch(async () => {
    await mkdir(join(project.overlay, 'rootfs/opt'), { recursive: true })
    await exec(['cp', '-a', many, join(project.overlay, 'rootfs/opt/')])
  })
  // Compressed, so that the image stage has work to be killed in (decompressing into out/'s cache).
  await exec(['xz', '-k', '-T0', '-1', project.image.img])
  const xz = `${project.image.img}.xz`
  const sha256 = (await exec(['sha256sum', xz])).stdout.split(' ')[0]!
  recipeFile = join(project.dir, 'killed.ts')
  await writeFile(
    recipeFile,
    `import { defineRecipe } from 'pibake'

export default defineRecipe({
  name: 'killed',
  image: { path: ${JSON.stringify(xz)}, sha256: '${sha256}' },
  overlays: [${JSON.stringify(project.overlay)}],
  customize: [
    { kind: 'copy', from: ${JSON.stringify(join(project.dir, 'big.bin'))}, to: '/opt/big.bin' },
    { kind: 'copy', from: ${JSON.stringify(many)}, to: '/srv/many' },
    { kind: 'write', path: '/etc/pibake-killed', content: 'customised\\n' },
  ],
  netboot: { server: '10.99.0.1', dhcp: { mode: 'proxy', network: '10.99.0.0' }, nfs: { server: '10.99.0.2' } },
  nodes: [
    { hostname: 'alpha', mac: 'dc:a6:32:00:00:01', ip: '10.99.0.11', model: '4B' },
    { hostname: 'beta', mac: 'dc:a6:32:00:00:02', ip: '10.99.0.12', model: '5', serial: 'a1b2c3d4' },
  ],
})
`,
  )
  // Every run builds in the same out/ (emptied between runs): the published paths, and with them the
  // content key, are those of the uninterrupted build.
  out = join(project.dir, 'out-killed')
  const run = await build(out)
  assert.is(run.code, 0, run.stderr)
  stages = run.events.flatMap((e) => (e.type === 'stage-end' && e.status === 'done' ? [[String(e.stage), Number(e.ms)] as [string, number]] : []))
  process.stderr.write(`# uninterrupted build: ${stages.map(([name, ms]) => `${name} ${ms} ms`).join(', ')}\n`)
  reference = await published(out)
  await empty(out)
}

/** pibake clean, then the folder removed: the next run starts from nothing. */
async function empty(dir: string): Promise<void> {
  const cleaned = await pibake(['clean', '--out', dir])
  assert.is(cleaned.code, 0, cleaned.stderr)
  await rm(dir, { recursive: true, force: true })
}

test.after(async () => {
  // A failed round may leave the mount it failed on: clean it up, and say so, without hiding the failure itself.
  await pibake(['clean', '--out', out])
  const left = await leftBehind(out)
  if (left.length) process.stderr.write(`killed test: still left after pibake clean:\n${left.join('\n')}\n`)
  await project.remove().catch((error: unknown) => process.stderr.write(`killed test: could not remove ${project.dir}: ${String(error)}\n`))
})

/** uvu prints a failure only once every test ran: a failure is said when it happens, with what is mounted. */
function loud(body: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await body()
    } catch (error) {
      const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').filter((line) => line.includes(out))
      process.stderr.write(`killed test failed: ${error instanceof Error ? error.message : String(error)}\nmounted then:\n${mounts.join('\n')}\n`)
      throw error
    }
  }
}

test('the uninterrupted build ran every stage, customize and publish included', () => {
  const names = stages.map(([name]) => name)
  for (const stage of ['image', 'overlay', 'customize', 'netboot', 'publish']) assert.ok(names.includes(stage), `${stage} ran: ${names.join(', ')}`)
})

test(`SIGKILL at ${ROUNDS} moments over every stage, then pibake clean and a plain re-run: the same published trees, nothing left`, loud(async () => {
  const killedIn: string[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const [stage, ms] = stages[round % stages.length]!
    // Every other round (past the stages an overlay change leaves cached) starts from an out/ holding a finished build of other
    // content (an overlay file differs), so that the cut-off stages and publish run beside a live build.
    const prepare = async () => {
      await empty(out)
      if (round % 2 === 0 || ['image', 'extract'].includes(stage)) return
      await writeFile(join(project.overlay, 'rootfs/etc/motd'), `round ${round}\n`)
      const before = await build(out)
      assert.is(before.code, 0, before.stderr)
      await writeFile(join(project.overlay, 'rootfs/etc/motd'), 'killed anywhere\n')
    }
    await prepare()
    // The stage may be quicker in this run than in the uninterrupted one (a publish beside a live
    // build copies less): a run that finished first, or was killed in a later stage, is done again
    // from the same start, killed sooner.
    let delay = Math.random() * ms
    let killed = await killAfter(stage, delay)
    const lastStage = (run: CliRun) => run.events.filter((e) => e.type === 'stage-start').pop()?.stage
    for (let retry = 0; (killed.signal !== 'SIGKILL' || lastStage(killed) !== stage) && retry < 5; retry++) {
      if (killed.signal !== 'SIGKILL') assert.is(killed.code, 0, `round ${round}: ${killed.stderr}`)
      await prepare()
      delay /= 3
      killed = await killAfter(stage, delay)
    }
    assert.is(killed.signal, 'SIGKILL', `round ${round}: the build was killed (in ${stage}, ${delay.toFixed(0)} ms in), not finished: ${killed.stderr}`)
    killedIn.push(`${String(lastStage(killed))} +${delay.toFixed(0)} ms`)

    const cleaned = await pibake(['clean', '--out', out])
    assert.is(cleaned.code, 0, cleaned.stderr)
    const rerun = await build(out)
    assert.is(rerun.code, 0, `round ${round}, killed in ${stage}: the plain re-run fails:\n${rerun.stderr}`)
    assertSame(await published(out), `round ${round}, killed in ${stage}`)
    assert.equal(await leftBehind(out), [], `round ${round}: nothing left mounted or attached`)
    assert.equal(await partials(out), [], `round ${round}: no .partial tree left`)
    await empty(out)
  }
  process.stderr.write(`# killed in: ${killedIn.join(', ')}\n`)
  for (const stage of ['image', 'overlay', 'customize', 'netboot', 'publish']) assert.ok(killedIn.some((k) => k.startsWith(`${stage} `)), `killed in ${stage} at least once`)
}))

/** A build SIGKILLed `delay` ms after it starts `stage` (unless it finished first). */
async function killAfter(stage: string, delay: number): Promise<CliRun> {
  let running = true
  let late: Error | undefined
  const run = await pibake(['build', recipeFile, '--out', out, '--json'], async (events, pid) => {
    late = await untilStage(stage, events, pid, () => !running)
    await sleep(delay)
    if (running && !late) process.kill(-pid, 'SIGKILL')
  }).finally(() => (running = false))
  if (late) throw late
  return run
}

/** The longest a build may take to reach a stage (seconds here, unloaded). */
const STAGE_WAIT_MS = 10 * 60_000

/**
 * Waits until the build started `stage`, or ended; when it does neither in time, SIGKILLs its group
 * and returns the error naming the stage and its last events (thrown once the build is gone).
 */
async function untilStage(stage: string, events: Record<string, unknown>[], pid: number, ended: () => boolean): Promise<Error | undefined> {
  const started = () => ended() || events.some((e) => e.type === 'stage-start' && e.stage === stage)
  const seen = () => events.slice(-3).map((e) => JSON.stringify(e)).join('\n') || '(no event yet)'
  return waitFor(started, { what: `the build to start its ${stage} stage`, timeoutMs: STAGE_WAIT_MS, everyMs: 2, seen }).then(
    () => undefined,
    (error: unknown) => {
      process.kill(-pid, 'SIGKILL')
      return error instanceof Error ? error : new Error(String(error))
    },
  )
}

test('SIGTERM during publish stops the build like Ctrl-C: everything undone, status 130; a plain re-run publishes', loud(async () => {
  await empty(out)
  let running = true
  let late: Error | undefined
  const stopped = await pibake(['build', recipeFile, '--out', out, '--json'], async (events, pid) => {
    late = await untilStage('publish', events, pid, () => !running)
    await sleep(50)
    if (running && !late) process.kill(pid, 'SIGTERM')
  }).finally(() => (running = false))
  if (late) throw late
  assert.is(stopped.code, 130, stopped.stderr)
  assert.match(stopped.stderr, 'pibake: interrupted by SIGTERM')
  assert.match(stopped.stderr, 'nothing was ever published to', stopped.stderr)
  assert.equal(await leftBehind(out), [], 'nothing left mounted or attached, without pibake clean')
  const rerun = await build(out)
  assert.is(rerun.code, 0, rerun.stderr)
  assertSame(await published(out), 'after SIGTERM')
  assert.equal(await partials(out), [])
}))

test.run()
