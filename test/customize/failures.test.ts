/**
 * Failing steps on the arm64 demo image: the error names the step, its recipe line, the exit
 * status, the command and its last output lines; the stage's layer is thrown away, nothing is
 * published, and no mount or loop device is left.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { StepError } from '../../src/customize/describe.ts'
import { OUT, freshOut, leftBehind, recipeProject, type RecipeProject } from './project.ts'

const GOOD = `    { kind: 'write', path: '/etc/motd', content: 'good\\n' },`
const current = () => readlink(join(OUT, 'publish/nfs/customize-failures/current'))
let project: RecipeProject

test.before(async () => {
  await freshOut()
  project = await recipeProject('customize-failures', 'arm64', GOOD)
  await project.build()
})
test.after(async () => {
  await project.remove()
})

async function failingBuild(steps: string): Promise<{ error: StepError; project: RecipeProject }> {
  const failing = await recipeProject('customize-failures', 'arm64', steps)
  try {
    await failing.build()
  } catch (error) {
    assert.instance(error, StepError, String(error))
    return { error: error as StepError, project: failing }
  } finally {
    await failing.remove()
  }
  assert.unreachable('the build succeeded')
  throw new Error('unreachable')
}

async function assertNothingLeft(before: string, dir: string): Promise<void> {
  assert.is(await current(), before, 'the live build is still the previous one')
  assert.equal(await leftBehind(OUT), [])
  assert.equal(await leftBehind(dir), [])
  assert.is(await stat(join(OUT, 'work/customize-failures/stages/customize/manifest.json')).catch(() => undefined), undefined, 'the failed layer left no manifest')
}

test('a run step that exits 3 fails the build with its recipe line, status, command and output; nothing is left', async () => {
  const before = await current()
  const steps = `${GOOD}\n    { kind: 'run', command: 'echo "about to fail" >&2; exit 3' },\n    { kind: 'run', command: 'touch /etc/never' },`
  const { error, project: failing } = await failingBuild(steps)
  const line = failing.lineOf('exit 3')
  assert.is(error.stage, 'customize')
  assert.is(error.exitCode, 3)
  assert.is(error.message.split('\n')[0], `customize › run "echo \\"about to fail\\" >&2; exit 3" (${failing.file}:${line}) exited 3`)
  assert.match(error.message, `/bin/sh -euc 'echo "about to fail" >&2; exit 3'`)
  assert.match(error.message, /last lines of its output:\n\s+about to fail/)
  await assertNothingLeft(before, failing.dir)
})

test('a package that does not exist is named as such', async () => {
  const before = await current()
  const { error, project: failing } = await failingBuild(`    { kind: 'packages', install: ['tree', 'pibake-no-such-package'] },`)
  assert.match(error.message.split('\n')[0] ?? '', `(${failing.file}:${failing.lineOf('pibake-no-such-package')}) failed: no package "pibake-no-such-package" in the image's apt sources`)
  assert.match(error.message, 'E: Unable to locate package pibake-no-such-package')
  await assertNothingLeft(before, failing.dir)
})

test('a user in a group the image does not have is refused before anything is made', async () => {
  const before = await current()
  const { error } = await failingBuild(`    { kind: 'users', users: [{ name: 'bob', groups: ['no-such-group'] }] },`)
  assert.match(error.message, 'users bob')
  assert.match(error.message, 'failed: user bob: no group "no-such-group" in the image')
  assert.match(error.hint ?? '', 'groups step')
  assert.is(await current(), before)
})

test.run()
