/**
 * A real NFS server for `pibake try` and the tests: rpcbind, then nfs-ganesha (VFS backend, NFSv3 and v4) in the
 * foreground, inside a network namespace pibake made. Both run in a private mount namespace with
 * a tmpfs on /run, so their sockets and pid files never meet the host's (the tmpfs goes away with
 * them). Ganesha's state, log and pid file live in the caller's folder. Stopped by PID: ganesha
 * first (rpcbind is its child until then), then rpcbind.
 *
 * Needs `nfs-ganesha`, `nfs-ganesha-vfs` and `rpcbind`. Without NLM (clients mount with `nolock`)
 * and without a grace period.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { alive, signal, stopProcess, type Owned } from '../system/process.ts'

export interface NfsServer extends Owned {
  /** PID of ganesha.nfsd. */
  readonly pid: number
  readonly rpcbindPid: number
  readonly logFile: string
  /** Everything ganesha has logged so far. */
  log(): string
}

export interface NfsServerOptions {
  /** Folder for ganesha.conf, the log, pid files and NFSv4 recovery state. */
  readonly dir: string
  /** `EXPORT { … }` blocks, e.g. from `renderGaneshaExports()`. */
  readonly exports: string
  /** MOUNT protocol port (default 20048). */
  readonly mountPort?: number
  /**
   * Lines for NFS_CORE_PARAM, as an admin adds the one a published ganesha.conf names for a large
   * fleet (`RPC_Max_Connections = 2064;`: src/netboot/sizing.ts).
   */
  readonly coreParams?: readonly string[]
  readonly timeoutMs?: number
}

/**
 * The paths come in as arguments ($1…$5), never inside the script text. rpcbind must not hold
 * ganesha's output pipes open, or ganesha's exit is not seen until rpcbind's.
 */
const SERVE = [
  'mount -t tmpfs -o mode=0755 tmpfs /run',
  'mkdir -p /run/ganesha',
  'rpcbind -w -f >"$5" 2>&1 </dev/null & echo $! > "$4"',
  'while [ ! -S /run/rpcbind.sock ]; do sleep 0.05; done',
  'exec ganesha.nfsd -F -f "$1" -L "$2" -p "$3" -N NIV_EVENT',
].join('\n')

export function ganeshaConf(options: NfsServerOptions): string {
  return [
    '# nfs-ganesha for pibake try: NFSv3 (what klibc nfsmount speaks) and v4, no locking, no grace period.',
    `NFS_CORE_PARAM { Enable_NLM = false; Enable_RQUOTA = false; MNT_Port = ${options.mountPort ?? 20048}; Protocols = 3, 4;${(options.coreParams ?? []).map((line) => ` ${line}`).join('')} }`,
    `NFSV4 { Graceless = true; Only_Numeric_Owners = true; RecoveryRoot = "${join(options.dir, 'ganesha-recovery')}"; }`,
    'NFS_KRB5 { Active_krb5 = false; }',
    options.exports,
    '',
  ].join('\n')
}

/** Starts rpcbind and ganesha in namespace `netns`; resolves once ganesha says it serves. */
export async function startNfsServer(netns: string, options: NfsServerOptions): Promise<NfsServer> {
  const files = {
    conf: join(options.dir, 'ganesha.conf'),
    log: join(options.dir, 'ganesha.log'),
    pid: join(options.dir, 'ganesha.pid'),
    rpcbind: join(options.dir, 'rpcbind.pid'),
    rpcbindLog: join(options.dir, 'rpcbind.log'),
  }
  writeFileSync(files.conf, ganeshaConf(options))
  const log = () => (existsSync(files.log) ? readFileSync(files.log, 'utf8') : '')
  const argv = ['netns', 'exec', netns, 'unshare', '-m', '--propagation', 'private', 'sh', '-euc', SERVE, 'sh', files.conf, files.log, files.pid, files.rpcbind, files.rpcbindLog]
  // `ip netns exec`, unshare and the script's `exec` each replace the process: the child is ganesha.
  const child = execa('ip', argv, { reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', cleanup: true })
  let exited = false
  const done = child.then((result) => {
    exited = true
    return result
  })
  const readPid = (file: string) => (existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) || undefined : undefined)
  const stopAll = async () => {
    await stopChild(child.pid, done, () => exited)
    const rpcbindPid = readPid(files.rpcbind)
    if (rpcbindPid) await stopProcess(rpcbindPid)
  }

  const deadline = Date.now() + (options.timeoutMs ?? 15_000)
  while (!/NFS SERVER INITIALIZED/.test(log())) {
    if (exited || Date.now() > deadline) {
      const result = exited ? await done : undefined
      await stopAll()
      const why = result ? `exited (${result.exitCode ?? result.signal}): ${String(result.stderr)}` : `was not ready within ${options.timeoutMs ?? 15_000} ms`
      throw new Error(`nfs-ganesha ${why}\n--- ganesha.log ---\n${log().split('\n').slice(-30).join('\n')}`)
    }
    await sleep(50)
  }
  const rpcbindPid = readPid(files.rpcbind)
  if (child.pid === undefined || rpcbindPid === undefined) {
    await stopAll()
    throw new Error('nfs-ganesha started but its PID or rpcbind\'s is unknown')
  }
  return { pid: child.pid, rpcbindPid, logFile: files.log, log, stop: stopAll }
}

/** SIGTERM, then SIGKILL after 5 s, to a child of ours; waits until it has exited and was reaped. */
async function stopChild(pid: number | undefined, done: Promise<unknown>, exited: () => boolean): Promise<void> {
  if (pid === undefined || exited()) return
  signal(pid, 'SIGTERM')
  const slow = await Promise.race([done.then(() => false), sleep(5000, true, { ref: false })])
  if (slow) {
    signal(pid, 'SIGKILL')
    await Promise.race([done, sleep(5000, undefined, { ref: false })])
  }
}
