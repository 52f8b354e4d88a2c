/**
 * test/lanes.ts: two lanes of files at once (what test/run.ts does with the slow and quick tiers).
 * Fixture files that pass only when run at the same time as each other (test/runner/fixtures/meets)
 * show that the lanes overlap; their tagged lines show that a second lane's file is printed in one
 * piece, stderr included; a hanging fixture in each lane shows that an abort stops both.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { runLanes, type LaneFile } from '../lanes.ts'
import { alive } from '../helpers/process.ts'
import { waitFor } from '../helpers/wait.ts'

const FIXTURES = join(import.meta.dirname, 'fixtures')
const file = (name: string, limitMs = 60_000): LaneFile => ({ name: `fixtures/${name}`, path: join(FIXTURES, name), limitMs })

let scratch: string
test.before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pibake-lanes-'))
})
test.after(async () => {
  delete process.env.RUNNER_MEET_DIR
  delete process.env.RUNNER_FIXTURE_PIDS
  await rm(scratch, { recursive: true, force: true })
})

test('two lanes run at once; the second lane\'s file is printed whole, with its stderr', async () => {
  process.env.RUNNER_MEET_DIR = await mkdtemp(join(scratch, 'meet-'))
  let printed = ''
  const results = await runLanes([[file('meets.test.ts')], [file('meets.test.ts')]], new AbortController().signal, (text) => (printed += text))
  assert.equal(results.map(({ result }) => [result.passed, result.failed, result.problem]), [[1, 0, undefined], [1, 0, undefined]], printed)
  const start = printed.indexOf('# fixtures/meets.test.ts (second lane, beside the slow files)\n')
  assert.ok(start >= 0, `the second lane's file has its header:\n${printed}`)
  const end = printed.indexOf('# fixtures/meets.test.ts: 1 passed, 0 failed', start)
  assert.ok(end > start, 'followed by its result line')
  const block = printed.slice(start, end)
  const pids = new Set([...block.matchAll(/^meet (\d+) /gm)].map((m) => m[1]))
  assert.is(pids.size, 1, `one file's lines only between its header and its result:\n${block}`)
  assert.match(block, /^meet \d+ err met 4$/m, 'its stderr is in the block')
  assert.match(block, /Total:\s+1\s+Passed:\s+1/, "and uvu's totals")
  const outside = printed.slice(0, start) + printed.slice(end)
  assert.not.match(outside, new RegExp(`^meet ${[...pids][0]} `, 'm'), 'none of its lines outside the block')
})

test('one lane runs its files one after the other (the same fixture alone does not meet the other)', async () => {
  process.env.RUNNER_MEET_DIR = await mkdtemp(join(scratch, 'alone-'))
  const results = await runLanes([[file('meets.test.ts'), file('meets.test.ts')]], new AbortController().signal, () => undefined)
  assert.equal(results.map(({ result }) => result.failed), [1, 0], 'the first waits in vain; the second sees its marker')
})

test('an abort stops the running file of every lane and starts no other', async () => {
  const pidFile = join(scratch, 'pids')
  process.env.RUNNER_FIXTURE_PIDS = pidFile
  const stop = new AbortController()
  const run = runLanes([[file('hangs.test.ts'), file('passes.test.ts')], [file('hangs.test.ts'), file('passes.test.ts')]], stop.signal, () => undefined)
  const pids = await waitFor(async () => {
    const written = (await readFile(pidFile, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean).map(Number)
    return written.length === 4 && written
  }, { what: 'both hanging fixtures to write their PIDs', timeoutMs: 20_000 })
  stop.abort('stopped: a test')
  const results = await run
  assert.equal(results.map(({ name, result }) => [name, result.problem]), [['fixtures/hangs.test.ts', 'stopped: a test'], ['fixtures/hangs.test.ts', 'stopped: a test']])
  for (const pid of pids) assert.not.ok(alive(pid), `process ${pid} of a lane's file was stopped`)
})

test.run()
