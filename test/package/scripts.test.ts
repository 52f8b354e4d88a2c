/**
 * What the clone's scripts leave a new user with: scripts/link-pibake.sh (run by setup.sh) puts
 * ./pibake on PATH only where nothing else is, and scripts/demo.sh ends with the commands to try
 * next, written as they run from that clone, each one a command pibake has. The demo itself is not
 * run (it builds images): its `next_steps` is, sourced from the script.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exec } from '../../src/system/exec.ts'

const repo = join(import.meta.dirname, '../..')
const link = (path: string) => exec([join(repo, 'scripts/link-pibake.sh'), path])
let tmp = ''

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pibake-scripts-'))
})
test.after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

test('link-pibake links a free path to ./pibake, and says so; run again, it says it is there already', async () => {
  const path = join(tmp, 'free/pibake')
  await mkdir(join(path, '..'))
  const first = await link(path)
  assert.is(await readlink(path), join(repo, 'pibake'))
  assert.is(first.stderr, `setup: linked ${path} to ${join(repo, 'pibake')}: pibake runs from any folder`)
  assert.is((await exec([path, '--version'])).stdout, (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version)
  assert.is((await link(path)).stderr, `setup: ${path} already runs ${join(repo, 'pibake')}`)
})

test('link-pibake leaves someone else\'s file or link alone, and a path it cannot make; it never fails setup', async () => {
  const file = join(tmp, 'file-pibake')
  await writeFile(file, '#!/bin/sh\necho theirs\n')
  assert.match((await link(file)).stderr, `setup: ${file} exists and is not this clone's: left alone; run ${join(repo, 'pibake')} instead`)
  assert.is(await readFile(file, 'utf8'), '#!/bin/sh\necho theirs\n')
  for (const target of ['/usr/lib/node_modules/pibake/bin/pibake.js', '/nowhere']) {
    const other = join(tmp, `link-${target.length}`)
    await symlink(target, other)
    assert.match((await link(other)).stderr, `setup: ${other} links to ${target}, not to this clone: left alone`)
    assert.is(await readlink(other), target)
  }
  const impossible = join(tmp, 'no/such/dir/pibake')
  const result = await link(impossible)
  assert.is(result.exitCode, 0)
  assert.match(result.stderr, `setup: could not create ${impossible} (as root: ln -s ${join(repo, 'pibake')} ${impossible}); run ${join(repo, 'pibake')} instead`)
})

/** The demo's last lines, from `start`, with `path` as PATH and the demo's build arguments `args`. */
async function nextSteps(start: string, path: string, ...args: string[]): Promise<string> {
  const script = `source ${join(repo, 'scripts/demo.sh')}; PATH=${path}; next_steps "$@"`
  return (await exec(['bash', '-c', script, 'demo', repo, start, ...args])).stdout
}

/** `pibake nodes recipes/cluster-node.ts` and the like, from the printed lines. */
const commands = (text: string) => text.split('\n').filter((line) => /^ {2}\S*pibake /.test(line)).map((line) => line.trim().split(/ {2,}/)[0]!)

test('the demo ends with nodes, serve, report and try as ./pibake in the clone, each a command that exists', async () => {
  const text = await nextSteps(repo, '/usr/bin:/bin')
  assert.match(text, /^\ndemo: next, the fleet you just published:\n {2}\.\/pibake nodes recipes\/cluster-node\.ts {3}each node/)
  const printed = commands(text)
  assert.equal(printed, ['./pibake nodes recipes/cluster-node.ts', './pibake serve', './pibake report cluster-node', "./pibake try recipes/cluster-node.ts node1 --command 'systemctl is-system-running --wait'"])
  for (const command of printed) {
    const [, name] = command.split(' ')
    const help = await exec([process.execPath, join(repo, 'bin/pibake.js'), name!, '--help'], { okCodes: [2] })
    assert.is(help.exitCode, 0, `${command}: ${help.stderr}`)
  }
})

test('with setup\'s link on PATH the commands say pibake; from another folder they start with cd; the build\'s --out goes along', async () => {
  const bin = join(tmp, 'path-bin')
  await mkdir(bin)
  await symlink(join(repo, 'pibake'), join(bin, 'pibake'))
  const linked = await nextSteps(repo, `${bin}:/usr/bin:/bin`, '--plain', '--out', '/srv/out')
  assert.equal(commands(linked), ['pibake nodes recipes/cluster-node.ts --out /srv/out', 'pibake serve --out /srv/out', 'pibake report cluster-node --out /srv/out', "pibake try recipes/cluster-node.ts node1 --out /srv/out --command 'systemctl is-system-running --wait'"])
  assert.not.match(linked, 'cd ')
  // Someone else's pibake on PATH is not this clone's.
  const elsewhere = join(tmp, 'other-bin')
  await mkdir(elsewhere)
  await writeFile(join(elsewhere, 'pibake'), '#!/bin/sh\n', { mode: 0o755 })
  const other = await nextSteps(tmp, `${elsewhere}:/usr/bin:/bin`, '--out=/srv/out')
  assert.match(other, `published:\n  cd ${repo}\n  ./pibake nodes recipes/cluster-node.ts --out /srv/out   each`)
})

test('demo.sh builds with ./pibake, then prints the next steps last', () => {
  const main = /\nmain\(\) \{\n(.*?)\n\}\n/s.exec(readFileSync(join(repo, 'scripts/demo.sh'), 'utf8'))?.[1] ?? ''
  const lines = main.split('\n').map((line) => line.trim())
  assert.equal(lines.slice(-3), ['./pibake demo-image --arch arm64', './pibake build recipes/cluster-node.ts "$@"', 'next_steps "$here" "$start" "$@"'])
})

test.run()
