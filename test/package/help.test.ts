/**
 * `pibake --version` and `pibake <command> --help` from the checkout: every command has its help,
 * every option a help names is one the command line parses, and every option is in some help.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { COMMAND_NAMES } from '../../src/cli/commands.ts'
import { HELP } from '../../src/cli/help.ts'
import { OPTIONS } from '../../src/cli/options.ts'
import { exec } from '../../src/system/exec.ts'

const repo = join(import.meta.dirname, '../..')
const pibake = (...args: string[]) => exec([process.execPath, join(repo, 'bin/pibake.js'), ...args], { okCodes: [1, 2] })

/** `--keep-days N` → keep-days, `-o, --output FILE` → output. */
const optionName = (flag: string) => /--([\w-]+)/.exec(flag)?.[1]

test('every command has a help entry, and every help entry is a command', () => {
  assert.equal(Object.keys(HELP).sort(), [...COMMAND_NAMES].sort())
})

test('every option a help names is parsed, and every parsed option is in some help', () => {
  const named = new Set<string>()
  for (const [command, help] of Object.entries(HELP)) {
    for (const [flag] of help.options) {
      const name = optionName(flag)
      assert.ok(name && name in OPTIONS, `${command}: ${flag} is not an option the command line knows`)
      named.add(name!)
    }
  }
  const undocumented = Object.keys(OPTIONS).filter((name) => !named.has(name) && name !== 'help' && name !== 'version')
  assert.equal(undocumented, [], 'options no command help mentions')
})

test('pibake --version prints the version of package.json', async () => {
  const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }
  const result = await pibake('--version')
  assert.is(result.exitCode, 0)
  assert.is(result.stdout, version)
})

test('pibake <command> --help shows the usage, the options and an example of that command', async () => {
  for (const command of COMMAND_NAMES) {
    const result = await pibake(command, '--help')
    assert.is(result.exitCode, 0, `${command}: ${result.stderr}`)
    assert.ok(result.stdout.startsWith(`usage: pibake ${command}`), `${command}: ${result.stdout.slice(0, 80)}`)
    for (const [flag] of HELP[command]!.options) assert.ok(result.stdout.includes(flag), `${command} --help shows ${flag}`)
    assert.match(result.stdout, /\nexamples?:\n {2}\S/, `${command} --help has an example`)
  }
  assert.is((await pibake('help', 'gc')).stdout, (await pibake('gc', '-h')).stdout, 'pibake help gc is pibake gc -h')
})

test('the overview, and its use for a missing command (exit 2) and an unknown one', async () => {
  const asked = await pibake('--help')
  assert.is(asked.exitCode, 0)
  for (const command of COMMAND_NAMES) assert.match(asked.stdout, `pibake ${command}`)
  assert.is((await pibake()).exitCode, 2)
  const unknown = await pibake('bake', '--help')
  assert.is(unknown.exitCode, 2)
  assert.match(unknown.stderr, 'unknown command "bake"')
  const badOption = await pibake('plan', '--frobnicate')
  assert.is(badOption.exitCode, 2)
  assert.match(badOption.stderr, "pibake <command> --help a command's options")
})

test.run()
