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

export class SshConnection {
  readonly dest: SshDestination
  readonly #dir: Promise<string>
  #opened = false

  constructor(dest: SshDestination) {
    this.dest = dest
    this.#dir = mkdtemp(join(tmpdir(), 'pibake-ssh-'))
  }

  /** `user@host` (and the port when not 22), as messages name it. */
  get name(): string {
    return `${this.dest.user}@${this.dest.host}${this.dest.port === 22 ? '' : `:${this.dest.port}`}`
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
    const argv = ['ssh', ...(await this.options()), `${this.dest.user}@${this.dest.host}`, '--', command]
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
    const keyscan = `ssh-keyscan -p ${d.port} ${d.host} >> ${d.knownHosts}`
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
    const scan = await exec(['ssh-keyscan', '-T', '5', '-p', String(this.dest.port), this.dest.host], { okCodes: [1] }).catch(() => undefined)
    if (!scan?.stdout.trim()) return []
    const listed = await exec(['ssh-keygen', '-l', '-f', '-'], { input: scan.stdout }).catch(() => undefined)
    return (listed?.stdout ?? '').split('\n').filter(Boolean).map((line) => line.split(' ').filter((_, i) => i === 1 || i === 3).join(' '))
  }

  /** Ends the shared connection and removes its socket. */
  async close(): Promise<void> {
    const dir = await this.#dir
    if (this.#opened) {
      await exec(['ssh', ...(await this.options()), '-O', 'exit', `${this.dest.user}@${this.dest.host}`], { okCodes: [255] }).catch(() => undefined)
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
