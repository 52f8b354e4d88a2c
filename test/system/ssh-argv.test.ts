/**
 * What ssh, ssh-keyscan and rsync are given: the destination always after a `--`, and a user or host
 * that starts with "-" (ssh would read `-oProxyCommand=…` as an option and run it) refused before
 * any program starts. Fake programs first on PATH record the argument vectors; the real `ssh -G`
 * (which prints the configuration a command line makes, connecting nowhere) and the real rsync check
 * what the programs make of them.
 */
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError } from '../../src/errors.ts'
import { exec } from '../../src/system/exec.ts'
import { rsync, rsyncArgv } from '../../src/system/rsync.ts'
import { SshConnection, type SshDestination } from '../../src/system/ssh.ts'

const HOSTILE = '-oProxyCommand=touch${IFS}/tmp/pwned;'
const DEST: SshDestination = { user: 'admin', host: 'pxe1', port: 2222, identity: '/root/.ssh/id_ed25519', knownHosts: '/root/.ssh/known_hosts' }
const REAL_PATH = process.env.PATH ?? ''

let dir: string
/** The argument vector the last fake program was started with, or undefined when none was. */
const recorded = async (): Promise<string[] | undefined> => (await readFile(join(dir, 'argv'), 'utf8').catch(() => undefined))?.split('\0').slice(0, -1)

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-ssh-argv-'))
  for (const name of ['ssh', 'ssh-keyscan']) {
    await writeFile(join(dir, name), `#!/bin/sh\nprintf '%s\\0' "$@" > '${join(dir, 'argv')}'\n`)
    await chmod(join(dir, name), 0o755)
  }
  process.env.PATH = `${dir}:${REAL_PATH}`
})
test.after.each(async () => {
  process.env.PATH = REAL_PATH
  await rm(dir, { recursive: true, force: true })
})

/** What the real ssh makes of `args` (ssh's own arguments, without the program): `ssh -G` prints it and connects nowhere. */
async function sshConfig(args: readonly string[]): Promise<{ config: string; error: string }> {
  const result = await exec(['/usr/bin/ssh', '-G', ...args], { okCodes: [255] })
  return { config: result.stdout, error: result.stderr }
}

test('ssh gets its options, then "--", then user@host and the command; the real ssh reads them so', async () => {
  const ssh = new SshConnection(DEST)
  await ssh.run(['ls', '-l', '/srv/tftp'])
  const argv = (await recorded())!
  const end = argv.indexOf('--')
  assert.ok(end > 0, '"--" is there')
  assert.equal(argv.slice(end), ['--', 'admin@pxe1', 'ls -l /srv/tftp'])
  const { config } = await sshConfig(argv)
  for (const line of ['user admin', 'hostname pxe1', 'port 2222', 'batchmode yes', 'stricthostkeychecking true', 'userknownhostsfile /root/.ssh/known_hosts']) assert.match(config, `\n${line}\n`)
  assert.not.match(config, /proxycommand/)
  await ssh.close()
  const exit = (await recorded())!
  assert.equal(exit.slice(exit.indexOf('-O')), ['-O', 'exit', '--', 'admin@pxe1'], 'ending the shared connection names the host after "--" too')
})

test('after "--", a login that looks like an option is only a (refused) name to the real ssh; before it, it is an option', async () => {
  const ssh = new SshConnection(DEST)
  await ssh.run(['true'])
  const argv = (await recorded())!
  const forced = argv.map((arg) => (arg === 'admin@pxe1' ? `${HOSTILE}@pxe1` : arg))
  const { config, error } = await sshConfig(forced)
  assert.not.match(config, /proxycommand/)
  assert.match(error, 'remote username contains invalid characters')
  // Without the "--" before it (as pibake's ssh wrapper did), the same login is the option -oProxyCommand.
  const old = [...forced.filter((arg) => arg !== '--' && arg !== `${HOSTILE}@pxe1` && arg !== 'true'), `${HOSTILE}@pxe1`, '--', 'true']
  assert.match((await sshConfig(old)).config, 'proxycommand touch${IFS}/tmp/pwned;@pxe1')
  assert.not.ok(existsSync('/tmp/pwned'))
})

test('a user or host that ssh would read as an option is refused before any program runs', () => {
  const refused: [Partial<SshDestination>, string][] = [
    [{ user: HOSTILE }, `${JSON.stringify(HOSTILE)} starts with "-": ssh would read it as an option, not a user name`],
    [{ host: '-oProxyCommand=x' }, '"-oProxyCommand=x" starts with "-": ssh would read it as an option, not a host'],
    [{ user: 'a b' }, '"a b" is not a user name'],
    [{ host: 'root@pxe1' }, '"root@pxe1" is not a host name or address'],
    [{ host: 'pxe1\n-oProxyCommand=x' }, 'is not a host name or address'],
    [{ port: 0 }, 'port 0 is not a TCP port'],
    [{ knownHosts: 'known_hosts' }, 'knownHosts "known_hosts" is not an absolute path'],
  ]
  for (const [change, message] of refused) {
    try {
      new SshConnection({ ...DEST, ...change })
      assert.unreachable(`${JSON.stringify(change)} was accepted`)
    } catch (error) {
      assert.instance(error, PibakeError)
      assert.match((error as Error).message, message)
    }
  }
})

test('nothing ran for a refused destination: no program started, no /tmp/pwned', async () => {
  assert.throws(() => new SshConnection({ ...DEST, user: HOSTILE }), /refusing to connect over SSH/)
  assert.is(await recorded(), undefined)
  assert.not.ok(existsSync('/tmp/pwned'))
})

test('ssh-keyscan gets the host after "--"', async () => {
  assert.equal(await new SshConnection(DEST).offeredFingerprints(), [])
  assert.equal(await recorded(), ['-T', '5', '-p', '2222', '--', 'pxe1'])
})

test('rsync gets its paths after "--", the remote path protected from the remote shell, and refuses a login ssh would read as an option', async () => {
  const remote = { login: 'admin@pxe1', shell: join(dir, 'ssh') }
  const argv = rsyncArgv('/tmp/root/', '/srv/nfs/builds/.x.partial', { remote, args: ['--archive'] })
  assert.equal(argv.slice(argv.indexOf('--')), ['--', '/tmp/root/', 'admin@pxe1:/srv/nfs/builds/.x.partial/'])
  assert.ok(argv.indexOf('--protect-args') < argv.indexOf('--'))
  // The real rsync starts the remote shell with the user and host as values, the path not on its command line.
  await mkdtemp(join(dir, 'src-')).then((source) => rsync(source, '/srv/nfs', { remote }).catch(() => undefined))
  const shell = (await recorded())!
  assert.equal(shell.slice(0, 3), ['-l', 'admin', 'pxe1'])
  assert.not.ok(shell.some((arg) => arg.includes('/srv/nfs')), `the remote path is not on the remote command line: ${shell.join(' ')}`)
  await rm(join(dir, 'argv'))
  for (const login of [`${HOSTILE}@pxe1`, 'admin@-oProxyCommand=x', 'pxe1']) {
    try {
      await rsync(dir, '/srv/nfs', { remote: { ...remote, login } })
      assert.unreachable(`${login} was accepted`)
    } catch (error) {
      assert.instance(error, PibakeError)
      assert.match((error as Error).message, `refusing to run rsync to ${JSON.stringify(login)}`)
    }
  }
  assert.is(await recorded(), undefined, 'rsync never ran')
  assert.not.ok(existsSync('/tmp/pwned'))
})

test.run()
