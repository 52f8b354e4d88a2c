/**
 * ssh, the OpenSSH client: one connection per destination (a control master, so the many small
 * commands of a publish share it), host keys checked against the destination's known_hosts and
 * never added silently, keys only (no password prompt, ever). Remote commands are built from
 * argument vectors, each argument quoted for the remote shell.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CommandError, PibakeError, shellQuote } from '../errors.ts'
import { exec, type ExecOptions, type ExecResult } from './exec.ts'

export interface SshDestination {
  readonly user: string
  readonly host: string
  readonly port: number
  readonly identity?: string
  readonly knownHosts: string
}

/** Characters no user or host name passed to ssh may hold: white space, control characters, "@" and "/". */
const NEVER_IN_NAMES = /[\s\x00-\x1f\x7f@/]/

/** Why `user` cannot be given to ssh as a login name (it would read as an option, or as more than a name); undefined if it can. */
export function sshUserProblem(user: string): string | undefined {
  if (user.startsWith('-')) return `${JSON.stringify(user)} starts with "-": ssh would read it as an option, not a user name`
  if (!user || NEVER_IN_NAMES.test(user) || user.includes(':')) return `${JSON.stringify(user)} is not a user name (no white space, control characters, "@", ":" or "/")`
  return undefined
}

/** Why `host` cannot be given to ssh, ssh-keyscan or rsync as a host; undefined if it can. */
export function sshHostProblem(host: string): string | undefined {
  if (host.startsWith('-')) return `${JSON.stringify(host)} starts with "-": ssh would read it as an option, not a host`
  if (!host || NEVER_IN_NAMES.test(host)) return `${JSON.stringify(host)} is not a host name or address (no white space, control characters, "@" or "/")`
  return undefined
}

/** Every reason `dest` cannot be handed to ssh; empty if it can. */
export function sshDestinationProblems(dest: SshDestination): string[] {
  const absolute = (what: string, path: string | undefined) =>
    path === undefined || (path.startsWith('/') && !/[\x00-\x1f\x7f]/.test(path)) ? [] : [`${what} ${JSON.stringify(path)} is not an absolute path without control characters`]
  return [
    ...[sshUserProblem(dest.user), sshHostProblem(dest.host)].filter((p): p is string => p !== undefined),
    ...(Number.isInteger(dest.port) && dest.port >= 1 && dest.port <= 65535 ? [] : [`port ${JSON.stringify(dest.port)} is not a TCP port (1 to 65535)`]),
    ...absolute('identity', dest.identity),
    ...absolute('knownHosts', dest.knownHosts),
  ]
}

export class SshConnection {
  readonly dest: SshDestination
  readonly #dir: Promise<string>
  #opened = false

  /** Refuses (before any program runs) a destination whose user or host ssh would read as anything but a name. */
  constructor(dest: SshDestination) {
    const problems = sshDestinationProblems(dest)
    if (problems.length) {
      throw new PibakeError(`refusing to connect over SSH to ${JSON.stringify(`${dest.user}@${dest.host}`)}: ${problems.join('; ')}`, 'give the destination a plain user and host (in the recipe, or in the site record that names it)')
    }
    this.dest = dest
    this.#dir = mkdtemp(join(tmpdir(), 'pibake-ssh-'))
  }

  /** `user@host` (and the port when not 22), as messages name it. */
  get name(): string {
    return `${this.dest.user}@${this.dest.host}${this.dest.port === 22 ? '' : `:${this.dest.port}`}`
  }

  /** `user@host`, as ssh and rsync take it (always after a `--`, or in rsync's `user@host:path`). */
  get login(): string {
    return `${this.dest.user}@${this.dest.host}`
  }

  /** The ssh options, without the host: also what rsync's `-e` runs. */
  async options(): Promise<string[]> {
    const d = this.dest
    return [
      '-p', String(d.port),
      ...(d.identity ? ['-i', d.identity, '-o', 'IdentitiesOnly=yes'] : []),
      '-o', 'BatchMode=yes',
      '-o', 'PasswordAuthentication=no',
      '-o', 'KbdInteractiveAuthentication=no',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${d.knownHosts}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'ConnectTimeout=15',
      '-o', 'ServerAliveInterval=10',
      '-o', 'ServerAliveCountMax=3',
      '-o', 'ControlMaster=auto',
      '-o', `ControlPath=${join(await this.#dir, 'c')}`,
      '-o', 'ControlPersist=120',
    ]
  }

  /** The remote-shell command for rsync's `-e`. */
  async rsyncShell(): Promise<string> {
    return shellQuote(['ssh', ...(await this.options())])
  }

  /** Runs `argv` on the host (each argument quoted for its shell). */
  async run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return this.shell(shellQuote(argv), options)
  }

  /** Runs a command line on the host, as its shell reads it (an admin's reload command). */
  async shell(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const argv = ['ssh', ...(await this.options()), '--', this.login, command]
    try {
      const result = await exec(argv, options)
      this.#opened = true
      return result
    } catch (error) {
      throw await this.explain(error)
    }
  }

  /** Turns OpenSSH's own failures (host key, authentication, network) into errors that say what to do. */
  async explain(error: unknown): Promise<unknown> {
    if (!(error instanceof CommandError) || error.exitCode !== 255) return error
    const text = error.stderrTail
    const d = this.dest
    const keyscan = `${shellQuote(['ssh-keyscan', '-p', String(d.port), d.host])} >> ${shellQuote([d.knownHosts])}`
    if (/REMOTE HOST IDENTIFICATION HAS CHANGED/.test(text)) {
      const fingerprint = /(SHA256:[\w+/=]+)/.exec(text)?.[1] ?? 'unknown'
      return new PibakeError(
        `the host key of ${this.name} has CHANGED (it now offers ${fingerprint}): refusing to publish there`,
        `this is what a machine in the middle looks like. If the server was reinstalled on purpose, check the new key on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then: ssh-keygen -R '${d.port === 22 ? d.host : `[${d.host}]:${d.port}`}' -f ${d.knownHosts} && ${keyscan}`,
      )
    }
    if (/No \S+ host key is known|Host key verification failed/.test(text)) {
      return new UnknownHostError(this.name, d, keyscan, await this.offeredFingerprints())
    }
    if (/Permission denied/.test(text)) {
      return new PibakeError(`${this.name} refused the SSH key: ${lastLine(text)}`, d.identity ? `is ${d.identity}.pub in the server's authorized_keys?` : 'give identity: in the destination, or load a key into ssh-agent')
    }
    return new UnreachableError(`cannot reach ${this.name} over SSH: ${lastLine(text) || `ssh exited ${error.exitCode}`}`, 'is the host up and sshd listening on that port? (ssh -p PORT USER@HOST true)')
  }

  /** The fingerprints of the keys the host offers now (ssh-keyscan), to compare with the server's own. */
  async offeredFingerprints(): Promise<string[]> {
    const scan = await exec(['ssh-keyscan', '-T', '5', '-p', String(this.dest.port), '--', this.dest.host], { okCodes: [1] }).catch(() => undefined)
    if (!scan?.stdout.trim()) return []
    const listed = await exec(['ssh-keygen', '-l', '-f', '-'], { input: scan.stdout }).catch(() => undefined)
    return (listed?.stdout ?? '').split('\n').filter(Boolean).map((line) => line.split(' ').filter((_, i) => i === 1 || i === 3).join(' '))
  }

  /** Ends the shared connection and removes its socket. */
  async close(): Promise<void> {
    const dir = await this.#dir
    if (this.#opened) {
      await exec(['ssh', ...(await this.options()), '-O', 'exit', '--', this.login], { okCodes: [255] }).catch(() => undefined)
    }
    await rm(dir, { recursive: true, force: true })
  }
}

/** The host did not answer (down, no route, connection cut): not a question of trust. */
export class UnreachableError extends PibakeError {}

/** The host's key is in no known_hosts: pibake never trusts it on its own. */
export class UnknownHostError extends PibakeError {
  readonly fingerprints: readonly string[]
  constructor(name: string, dest: SshDestination, keyscan: string, fingerprints: readonly string[]) {
    const offered = fingerprints.length ? `; it offers ${fingerprints.join(', ')}` : ''
    super(
      `${name} is not a known host (its key is not in ${dest.knownHosts})${offered}: refusing to publish there`,
      `compare with the fingerprint on the server's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); if it matches, trust it: ${keyscan}`,
    )
    this.fingerprints = fingerprints
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter((l) => !/^Warning: Permanently added/.test(l)).at(-1) ?? ''
}
