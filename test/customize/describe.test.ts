/** How steps are named and how a failing one is reported; what of a step makes the cache key. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CommandError } from '../../src/errors.ts'
import { CommandFailure, describeStep, stepError, StepError } from '../../src/customize/describe.ts'
import { stepInputs } from '../../src/customize/steps.ts'
import type { CustomizeStep } from '../../src/recipe/types.ts'

const recipe = join(process.cwd(), 'recipes/cluster-node.ts')
const run: CustomizeStep = { kind: 'run', command: 'apt-get install nfs-common', index: 2, at: { file: recipe, line: 14 } }

test('a step is named by what it does and where the recipe says it, relative to the current folder', () => {
  assert.is(describeStep(run), 'run "apt-get install nfs-common" (recipes/cluster-node.ts:14)')
  const packages: CustomizeStep = { kind: 'packages', install: ['less', 'tree'], upgrade: true, recommends: false, index: 0, at: { file: '/srv/r.ts' } }
  assert.is(describeStep(packages), 'packages (upgrade) less tree (/srv/r.ts, customize[0])')
  const long: CustomizeStep = { ...run, command: `echo ${'x'.repeat(100)}\necho second line` }
  assert.is(describeStep(long).length < 100, true)
  const copy: CustomizeStep = { kind: 'copy', from: '/srv/recipes/files/a.conf', to: '/etc/a.conf', owner: { user: 'root' }, index: 1, at: { file: '/srv/recipes/r.ts', line: 3 } }
  assert.is(describeStep(copy), 'copy files/a.conf → /etc/a.conf (/srv/recipes/r.ts:3)')
})

test('a failed command becomes: the step, its line, the exit status, the command as it can be pasted, its last lines', () => {
  const failed = new CommandError(['chroot', '/work/mnt/customize-root', '/bin/sh', '-euc', 'apt-get install nfs-common'], 100, 'Reading package lists...\nE: Could not get lock')
  const error = stepError(run, failed)
  assert.instance(error, StepError)
  assert.is((error as StepError).stage, 'customize')
  assert.is((error as StepError).exitCode, 100)
  assert.is(
    error.message,
    [
      'customize › run "apt-get install nfs-common" (recipes/cluster-node.ts:14) exited 100',
      "    in the image (chroot /work/mnt/customize-root): /bin/sh -euc 'apt-get install nfs-common'",
      '    last lines of its output:',
      '      Reading package lists...',
      '      E: Could not get lock',
    ].join('\n'),
  )
})

test('a failure explained in words keeps the command and output under it; other errors say "failed:"', () => {
  const failed = new CommandError(['chroot', '/r', 'apt-get', 'install', 'nope'], 100, 'E: Unable to locate package nope')
  const explained = stepError(run, new CommandFailure('failed: no package "nope"', failed, 'check the spelling'))
  assert.match(explained.message, /^customize › run .* failed: no package "nope"\n    in the image \(chroot \/r\): apt-get install nope\n/)
  assert.is((explained as StepError).hint, 'check the spelling')
  assert.is(stepError(run, new Error('there is no user "bob" in the image')).message, 'customize › run "apt-get install nfs-common" (recipes/cluster-node.ts:14) failed: there is no user "bob" in the image')
})

test('the cache key of a step leaves out its place in the recipe and takes in the contents of what it copies or runs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-step-inputs-'))
  try {
    assert.equal(await stepInputs(run), await stepInputs({ ...run, index: 5, at: { file: recipe, line: 40 } }))
    const script = join(dir, 'setup.sh')
    await writeFile(script, 'echo one\n')
    const step: CustomizeStep = { kind: 'script', path: script, args: [], index: 0, at: { file: recipe } }
    const before = await stepInputs(step)
    await writeFile(script, 'echo two\n')
    assert.not.equal(await stepInputs(step), before)
    const copy: CustomizeStep = { kind: 'copy', from: dir, to: '/opt/x', owner: { user: 'root' }, index: 0, at: { file: recipe } }
    const tree = await stepInputs(copy)
    await chmod(script, 0o755)
    assert.not.equal(await stepInputs(copy), tree, 'a mode change inside a copied folder changes the key')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
