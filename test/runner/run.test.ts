/**
 * test/run.ts's verdicts on fixture files (test/runner/fixtures, which the suite itself skips):
 * one that passes, one that fails, one that exits 0 printing nothing, one with no tests, one that
 * hangs (cut off by a 2 s limit), one that hangs deaf to SIGTERM, one that leaves a server running,
 * and an empty folder. Each hang's processes must be gone afterwards, not just the runner done.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { alive, signal } from '../helpers/process.ts'
import { waitFor } from '../helpers/wait.ts'

const ROOT = join(import.meta.dirname, '../..')
const FIXTURES = 'test/runner/fixtures'
/** The longest a run of test/run.ts on fixtures may take here (a fixture's own limit is 2 s). */
const RUNNER_LIMIT_MS = 60_000

interface Run {
  readonly code: number | null
  readonly out: string
  readonly seconds: number
}

let scratch: string
test.before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pibake-runner-'))
})
test.after(async () => {
  await rm(scratch, { recursive: true, force: true })
})

/** Runs test/run.ts with `args`; `during` gets its PID while it runs. */
function runner(args: string[], during?: (pid: number) => Promise<void>): Promise<Run> {
  const started = performance.now()
  const child = spawn(process.execPath, [join(ROOT, 'test/run.ts'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUNNER_FIXTURE_PIDS: join(scratch, 'pids') },
  })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const watching = during && child.pid !== undefined ? during(child.pid) : Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // The runner did not stop the fixture: stop it here, or its processes would hold this file's pipes open.
      child.kill('SIGKILL')
      void fixturePids().then((pids) => pids.forEach((pid) => signal(pid, 'SIGKILL')), () => undefined)
      child.stdout.destroy()
      child.stderr.destroy()
      reject(new Error(`test/run.ts ${args.join(' ')} did not end within ${RUNNER_LIMIT_MS / 1000} s; its output:\n${out}`))
    }, RUNNER_LIMIT_MS)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      void watching.then(() => resolve({ code, out, seconds: (performance.now() - started) / 1000 }), reject)
    })
  })
}

async function fixturePids(): Promise<number[]> {
  return (await readFile(join(scratch, 'pids'), 'utf8')).trim().split(' ').map(Number)
}

async function noPidsFile(): Promise<void> {
  await rm(join(scratch, 'pids'), { force: true })
}

test('a file whose tests pass passes, and the run with it', async () => {
  const run = await runner([`${FIXTURES}/passes.test.ts`])
  assert.is(run.code, 0, run.out)
  assert.match(run.out, `# ${FIXTURES}/passes.test.ts: 1 passed, 0 failed`)
  assert.match(run.out, /\n1 passed, 0 failed\n/)
})

test('a file with a failing test fails the run', async () => {
  const run = await runner([`${FIXTURES}/passes.test.ts`, `${FIXTURES}/fails.test.ts`])
  assert.is(run.code, 1, run.out)
  assert.match(run.out, `# ${FIXTURES}/fails.test.ts: 0 passed, 1 failed`)
  assert.match(run.out, /\n1 passed, 1 failed\n/)
})

test('a file that exits 0 printing nothing fails: it printed no uvu totals', async () => {
  const run = await runner([`${FIXTURES}/passes.test.ts`, `${FIXTURES}/silent.test.ts`])
  assert.is(run.code, 1, run.out)
  assert.match(run.out, `# ${FIXTURES}/silent.test.ts: 0 passed, 1 failed`)
  assert.match(run.out, 'printed no uvu totals')
  assert.match(run.out, `failed: ${FIXTURES}/silent.test.ts`)
})

test('a file with no tests fails: Total: 0', async () => {
  const run = await runner([`${FIXTURES}/empty.test.ts`])
  assert.is(run.code, 1, run.out)
  assert.match(run.out, `# ${FIXTURES}/empty.test.ts: 0 passed, 1 failed`)
  assert.match(run.out, 'ran no tests')
})

test('a folder without test files is a run of zero tests, and fails', async () => {
  const run = await runner([scratch])
  assert.is(run.code, 1, run.out)
  assert.match(run.out, 'no test ran')
  assert.match(run.out, /\n0 passed, 0 failed\n/)
})

test('a file that hangs is cut off at its time limit, its processes stopped, and fails', async () => {
  await noPidsFile()
  const run = await runner(['--timeout', '2s', `${FIXTURES}/hangs.test.ts`])
  assert.is(run.code, 1, run.out)
  assert.match(run.out, `# ${FIXTURES}/hangs.test.ts: 0 passed, 1 failed`)
  assert.match(run.out, 'timed out after 2 s')
  assert.ok(run.seconds < 15, `the runner ended ${run.seconds} s after it started`)
  for (const pid of await fixturePids()) assert.not.ok(alive(pid), `process ${pid} of the file was stopped`)
})

test('a file that ignores SIGTERM gets SIGKILL after the grace period', async () => {
  await noPidsFile()
  const run = await runner(['--timeout', '2s', `${FIXTURES}/stuck.test.ts`])
  assert.is(run.code, 1, run.out)
  assert.match(run.out, 'timed out after 2 s')
  assert.ok(run.seconds < 15, `the runner ended ${run.seconds} s after it started`)
  for (const pid of await fixturePids()) assert.not.ok(alive(pid), `process ${pid} of the file was stopped`)
})

test('a file that leaves a server running fails, and the server is stopped', async () => {
  await noPidsFile()
  const run = await runner([`${FIXTURES}/leaves.test.ts`])
  assert.is(run.code, 1, run.out)
  assert.match(run.out, `# ${FIXTURES}/leaves.test.ts: 1 passed, 1 failed`)
  assert.match(run.out, 'left processes running')
  const [server] = await fixturePids()
  assert.not.ok(alive(server ?? 0), `the server (process ${server}) was stopped`)
})

test('Ctrl-C on the runner stops the running file and its processes, status 130', async () => {
  await noPidsFile()
  let pids: number[] = []
  const run = await runner(['--timeout', '60s', `${FIXTURES}/hangs.test.ts`, `${FIXTURES}/passes.test.ts`], async (pid) => {
    pids = await waitFor(async () => {
      const written = await fixturePids().catch(() => [])
      return written.length === 2 && written.every((p) => p > 0) && written
    }, { what: 'the hanging fixture to write its two PIDs', timeoutMs: 15_000 })
    process.kill(pid, 'SIGINT')
  })
  assert.is(run.code, 130, run.out)
  assert.match(run.out, 'stopped: the runner got SIGINT')
  assert.not.match(run.out, `# ${FIXTURES}/passes.test.ts`, 'no file runs after the interruption')
  assert.ok(run.seconds < 30, `the runner ended ${run.seconds} s after it started`)
  for (const pid of pids) assert.not.ok(alive(pid), `process ${pid} of the file was stopped`)
})

test('a file killed before deleting its network namespaces leaves no name of them in /run/netns', async () => {
  const run = await runner([`${FIXTURES}/netns.test.ts`])
  assert.is(run.code, 1, run.out)
  const name = /made (pibake-t\d+-1-fixture)/.exec(run.out)?.[1]
  assert.ok(name, run.out)
  assert.match(run.out, `removed the names of network namespaces it left in /run/netns: ${name}`)
  assert.not.ok(existsSync(join('/run/netns', name)), `/run/netns/${name} is left`)
})

test('--quick leaves out the slow tier; --list says each file\'s tier and limit', async () => {
  const all = await runner(['--list', 'test/boot'])
  assert.is(all.code, 0, all.out)
  assert.match(all.out, 'test/boot/trixie.test.ts  slow, 120 min')
  const quick = await runner(['--list', '--quick', 'test/boot', 'test/recipe/valid.test.ts'])
  assert.is(quick.code, 0, quick.out)
  assert.is(quick.out, 'test/recipe/valid.test.ts  quick, 15 min\n')
})

test('the slow lane runs the files that need no demo image first and those that need the trixie one last; the self-contained slow files run beside it, after the quick ones', async () => {
  const run = await runner(['--list'])
  assert.is(run.code, 0, run.out)
  const [slowLane = '', secondLane = ''] = run.out.split(/^lane 2:$/m)
  const slow = [...slowLane.matchAll(/^(test\/\S+)  (?:slow|wide)/gm)].map((m) => m[1]!)
  assert.ok(slow.length > 20, slowLane)
  const at = (name: string) => slow.indexOf(name)
  for (const name of ['test/demo/abort.test.ts', 'test/boot/nfsroot.test.ts', 'test/boot/trixie.test.ts', 'test/try/try.test.ts', 'test/recipes/cluster-node.test.ts']) assert.ok(at(name) >= 0, `${name} in the slow lane`)
  // No demo image: before every boot; the trixie image: after the bookworm boots, though their paths sort earlier.
  assert.is(at('test/demo/abort.test.ts'), 0, 'demo/abort first')
  assert.ok(at('test/boot/trixie.test.ts') > at('test/verify/demo.test.ts'), 'boot/trixie after verify/demo')
  assert.ok(at('test/customize/trixie.test.ts') > at('test/web/serve.test.ts'), 'customize/trixie after web/serve')
  const second = [...secondLane.matchAll(/^(test\/\S+)  (quick|slow)/gm)].map((m) => ({ name: m[1]!, tier: m[2]! }))
  const besideAt = second.findIndex((file) => file.tier === 'slow')
  assert.ok(besideAt > 0, `slow files in the second lane:\n${secondLane}`)
  assert.ok(second.slice(besideAt).every((file) => file.tier === 'slow'), 'the second lane\'s slow files come after all its quick ones')
  const beside = second.slice(besideAt).map((file) => file.name)
  for (const name of ['test/publish/ssh.test.ts', 'test/faults/killed.test.ts', 'test/publish/lock-ssh.test.ts']) assert.ok(beside.includes(name), `${name} beside the slow lane`)
  for (const name of beside) assert.is(at(name), -1, `${name} runs in one lane only`)
  assert.match(secondLane, /^test\/recipe\/valid\.test\.ts  quick, 15 min$/m)
})

test.run()
