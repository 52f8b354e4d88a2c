/**
 * A real OpenSSH server on a test LAN host: its own host key, config, authorized key and pid file in
 * a folder of the test's, run in the host's namespace (`sshd -D -e`), stopped by PID with the LAN.
 * `path` limits the programs a session finds (a host without rsync); `knownHostsLine` is what a
 * client's known_hosts needs to trust it.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { exec } from '../../src/system/exec.ts'
import type { Server, TestLan } from './netns.ts'

export interface Sshd {
  readonly server: Server
  readonly address: string
  readonly hostKey: string
  /** `10.79.0.2 ssh-ed25519 AAAA…`, for the client's known_hosts. */
  readonly knownHostsLine: string
  readonly log: () => string
}

export interface SshdOptions {
  /** The LAN host to run on, and its address. */
  readonly host: string
  readonly address: string
  /** Folder for the server's files. */
  readonly dir: string
  /** The public key (a line) that may log in as root. */
  readonly authorizedKey: string
  /** Programs a session finds: only these, linked into a folder of their own (default: the system's PATH). */
  readonly programs?: readonly string[]
  /** Reuse the host key already in `dir` (a restart); default: make a new one. */
  readonly keepHostKey?: boolean
}

export async function startSshd(lan: TestLan, options: SshdOptions): Promise<Sshd> {
  const { dir } = options
  mkdirSync(dir, { recursive: true })
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
  const hostKey = join(dir, 'ssh_host_ed25519_key')
  if (!options.keepHostKey || !existsSync(hostKey)) {
    await exec(['rm', '-f', hostKey, `${hostKey}.pub`])
    await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `test-${options.host}`, '-f', hostKey])
  }
  writeFileSync(join(dir, 'authorized_keys'), `${options.authorizedKey.trim()}\n`, { mode: 0o600 })
  const pidFile = join(dir, 'sshd.pid')
  const logFile = join(dir, 'sshd.log')
  const config = [
    'Port 22',
    `HostKey ${hostKey}`,
    `PidFile ${pidFile}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'Subsystem sftp internal-sftp',
    ...(options.programs ? [`SetEnv PATH=${programFolder(dir, options.programs)}`] : []),
  ]
  writeFileSync(join(dir, 'sshd_config'), `${config.join('\n')}\n`)
  await exec(['rm', '-f', pidFile, logFile])
  const server = await lan.start(options.host, ['/usr/sbin/sshd', '-D', '-f', join(dir, 'sshd_config'), '-E', logFile], { pidFile, diagnose: () => read(logFile) })
  const key = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')
  return { server, address: options.address, hostKey, knownHostsLine: `${options.address} ${key}`, log: () => read(logFile) }
}

/** A folder holding links to just these programs (found on this machine's PATH). */
function programFolder(dir: string, programs: readonly string[]): string {
  const bin = join(dir, 'bin')
  mkdirSync(bin, { recursive: true })
  for (const name of programs) {
    const found = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => join(d, name)).find((p) => existsSync(p))
    if (found && !existsSync(join(bin, name))) symlinkSync(found, join(bin, name))
  }
  return bin
}

function read(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : ''
}
