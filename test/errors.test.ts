import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { CommandError, shellQuote } from '../src/errors.ts'
import { exec } from '../src/system/exec.ts'

test('shellQuote leaves plain words alone and quotes the rest so they paste', () => {
  assert.is(shellQuote(['ls', '-la', '/tmp/a-b_c.d']), 'ls -la /tmp/a-b_c.d')
  assert.is(shellQuote(['sh', '-c', "echo 'hi' there"]), `sh -c 'echo '\\''hi'\\'' there'`)
})

test('exec streams lines and returns output', async () => {
  const lines: string[] = []
  const result = await exec(['sh', '-c', 'echo one; echo two >&2'], { onLine: (line, stream) => lines.push(`${stream}:${line}`) })
  assert.is(result.stdout, 'one')
  assert.equal(lines.sort(), ['stderr:two', 'stdout:one'])
})

test('exec failure names the command, its status and the tail of stderr', async () => {
  try {
    await exec(['sh', '-c', 'echo broken >&2; exit 3'], { hint: 'fix it' })
    assert.unreachable()
  } catch (error) {
    assert.instance(error, CommandError)
    const e = error as CommandError
    assert.is(e.exitCode, 3)
    assert.match(e.message, `sh -c 'echo broken >&2; exit 3' exited 3`)
    assert.match(e.stderrTail, 'broken')
    assert.is(e.hint, 'fix it')
  }
})

test('a command stopped by Ctrl-C or by pibake says so, without the hint for a failure', async () => {
  const stopped = async (argv: string[], signal?: AbortSignal) => {
    const error = await exec(argv, { hint: 'check the mirror', ...(signal ? { signal } : {}) }).then(() => undefined, (e: unknown) => e)
    assert.instance(error, CommandError)
    return error as CommandError
  }
  const byCtrlC = await stopped(['sh', '-c', 'echo "Interrupt caught" >&2; exit 130'])
  assert.match(byCtrlC.message, /exited 130\n\s+was interrupted\n\s+Interrupt caught/)
  assert.is(byCtrlC.hint, undefined)
  assert.is((await stopped(['sh', '-c', 'kill -INT $$; sleep 5'])).hint, undefined, 'killed by SIGINT')
  const controller = new AbortController()
  setTimeout(() => controller.abort(), 200)
  const cancelled = await stopped(['sleep', '10'], controller.signal)
  assert.match(cancelled.message, 'was cancelled')
  assert.is(cancelled.hint, undefined)
})

test('exec sends output to a file without keeping it in memory, however large', async () => {
  const { mkdtemp, stat, rm } = await import('node:fs/promises')
  const dir = await mkdtemp('/tmp/pibake-exec-')
  try {
    await exec(['head', '-c', String(150 << 20), '/dev/zero'], { stdoutFile: `${dir}/out` })
    assert.is((await stat(`${dir}/out`)).size, 150 << 20)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
