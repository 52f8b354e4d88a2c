/**
 * The `customize` steps of a recipe: every kind resolved with its defaults, and each step knowing
 * the recipe line it was written on.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadRecipe } from '../../src/recipe/load.ts'
import { locateSteps } from '../../src/recipe/locate.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'
import type { CustomizeStep } from '../../src/recipe/types.ts'
import base from './fixtures/valid/minimal.ts'

const fixtures = join(import.meta.dirname, 'fixtures')
const valid = join(fixtures, 'valid')
const file = join(valid, 'customize.ts')
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3zCzZ2o3cKcSxbqJ7lDQK6vH3G9wL2pA1bC2dE3fF alice@laptop'
const HASH = '$y$j9T$abcdefghijklmnopqrstu.$0123456789abcdefghijklmnopqrstuvwxyzABCDE'
const root = { user: 'root', group: 'root' }

test('every step kind resolves: defaults applied, host paths absolute, units named in full, each with its line', async () => {
  const recipe = await loadRecipe(file)
  const at = (line: number) => ({ file, line })
  const expected: CustomizeStep[] = [
    { kind: 'packages', install: ['nfs-common', 'less=590-2.1~deb12u2'], upgrade: false, recommends: true, index: 0, at: at(11) },
    { kind: 'packages', install: [], upgrade: true, recommends: false, index: 1, at: at(12) },
    { kind: 'remove', packages: ['triggerhappy'], index: 2, at: at(13) },
    {
      kind: 'groups',
      groups: [
        { name: 'cluster', gid: 2000, system: false },
        { name: 'metrics', system: true },
      ],
      index: 3,
      at: at(14),
    },
    {
      kind: 'users',
      users: [
        { name: 'alice', uid: 2001, gid: 2001, password: HASH, shell: '/bin/bash', home: '/home/alice', groups: ['sudo', 'cluster'], sshKeys: [KEY] },
        { name: 'svc', shell: '/usr/sbin/nologin', home: '/var/lib/svc', comment: 'Service account', groups: [], sshKeys: [] },
      ],
      index: 4,
      at: at(16),
    },
    { kind: 'run', command: 'echo "node" > /etc/role', index: 5, at: at(22) },
    { kind: 'script', path: join(fixtures, 'files/setup-node.sh'), args: ['--fast'], index: 6, at: at(23) },
    { kind: 'copy', from: join(fixtures, 'files/sshd-extra.conf'), to: '/etc/ssh/sshd_config.d/extra.conf', mode: 0o600, owner: root, index: 7, at: at(24) },
    { kind: 'copy', from: join(fixtures, 'files'), to: '/opt/files', mode: 0o640, owner: { user: 'alice', group: 'cluster' }, index: 8, at: at(25) },
    { kind: 'write', path: '/etc/motd', content: 'welcome\n', mode: 0o644, owner: { user: '1000' }, index: 9, at: at(26) },
    { kind: 'enable', units: ['ssh.service', 'rpcbind.socket'], index: 10, at: at(27) },
    { kind: 'disable', units: ['dphys-swapfile.service'], index: 11, at: at(28) },
    { kind: 'mask', units: ['getty@tty1.service'], index: 12, at: at(29) },
  ]
  assert.equal(recipe.customize, expected)
})

test('a recipe without customize has no steps', async () => {
  const recipe = await loadRecipe(join(valid, 'minimal.ts'))
  assert.equal(recipe.customize, [])
})

test('steps of the same kind are told apart by their literals, even out of order in the source', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'pibake-locate-'))
  try {
    const source = join(scratch, 'recipe.ts')
    const text = [
      'const a = { kind: "run", command: "echo first" }',
      'const b = { kind: "run", command: "echo second" }',
      'export default { customize: [b, a] }',
    ].join('\n')
    writeFileSync(source, text)
    const steps = [
      { kind: 'run', command: 'echo second' },
      { kind: 'run', command: 'echo first' },
    ]
    assert.equal(locateSteps(source, steps), [{ file: source, line: 2 }, { file: source, line: 1 }])
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
})

test('steps made by code point at the code that made them; a step the source does not show has no line', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'pibake-locate-'))
  try {
    const source = join(scratch, 'recipe.ts')
    writeFileSync(source, "const names = ['a', 'b']\n\nexport default names.map((n) => ({ kind: 'run', command: `echo ${n}` }))\n")
    const steps = [
      { kind: 'run', command: 'echo a' },
      { kind: 'run', command: 'echo b' },
      { kind: 'mask', units: ['foo.service'] },
    ]
    assert.equal(locateSteps(source, steps), [{ file: source, line: 3 }, { file: source }, { file: source }])
    assert.equal(locateSteps(join(scratch, 'gone.ts'), steps.slice(0, 1)), [{ file: join(scratch, 'gone.ts') }])
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
})

test('a recipe validated from a value whose file does not exist still resolves, without lines', () => {
  const recipe = validateRecipe({ ...base, customize: [{ kind: 'run', command: 'true' }] }, join(valid, 'no-such-file.ts'))
  assert.equal(recipe.customize, [{ kind: 'run', command: 'true', index: 0, at: { file: join(valid, 'no-such-file.ts') } }])
})

test('modes: octal strings and octal numbers below 0o1000 are taken, a decimal 755 is refused with the fix', () => {
  const modeOf = (mode: unknown) => {
    try {
      const recipe = validateRecipe({ ...base, customize: [{ kind: 'write', path: '/etc/x', content: '', mode }] }, join(valid, 'inline.ts'))
      return (recipe.customize[0] as { mode: number }).mode
    } catch (error) {
      return (error as Error).message.split('\n')[1]?.trim()
    }
  }
  assert.is(modeOf('0644'), 0o644)
  assert.is(modeOf('4755'), 0o4755)
  assert.is(modeOf(0o600), 0o600)
  assert.is(modeOf(755), "- customize[0].mode: 755 is not a mode (did you mean '755'? as a number, 755 is 0o1363)")
  assert.is(modeOf('12345'), '- customize[0].mode: "12345" is not a mode (3 or 4 octal digits, like "0644")')
})

test.run()
