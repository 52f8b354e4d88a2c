/** rsync, the one full copy of a build's tree, incremental against the previous build; to this machine or over SSH. */
import { PibakeError } from '../errors.ts'
import { exec } from './exec.ts'
import { sshHostProblem, sshUserProblem } from './ssh.ts'

export interface RsyncOptions {
  /** An earlier copy on the destination: unchanged files are hard-linked to it instead of copied. */
  readonly linkDest?: string | undefined
  /** Extra rsync arguments (e.g. `--chmod`). */
  readonly args?: readonly string[]
  readonly signal?: AbortSignal | undefined
  readonly onProgress?: (bytes: number, percent: number, files: number) => void
  /** The destination is on another host: `user@host` (neither may start with "-"), reached with `shell` (rsync's `-e`). */
  readonly remote?: { readonly login: string; readonly shell: string }
}

/** What rsync's `--stats` says it did. */
export interface RsyncStats {
  /** Entries in the source tree. */
  readonly files: number
  /** Regular files whose content was sent (new or changed). */
  readonly transferred: number
  /** Bytes of file content actually sent (not found on the destination already). */
  readonly literalBytes: number
  /** Bytes of all regular files in the tree. */
  readonly totalBytes: number
}

/** Arguments that keep everything a root filesystem carries: hard links, ACLs, xattrs (file capabilities), numeric owners. */
export const ROOTFS_ARGS = ['--archive', '--hard-links', '--acls', '--xattrs', '--numeric-ids', '--delete', '--sparse'] as const

/** Copies the contents of `source` (a local directory) into `dest` (a directory, here or on `remote`). */
export async function rsync(source: string, dest: string, options: RsyncOptions = {}): Promise<RsyncStats> {
  const { stdout } = await exec(rsyncArgv(source, dest, options), {
    signal: options.signal,
    onLine: (line) => {
      const progress = parseProgress(line)
      if (progress) options.onProgress?.(progress.bytes, progress.percent, progress.files)
    },
    hint: 'a full disk fails here too: check `df -h` on the destination',
  })
  return parseStats(stdout)
}

/**
 * rsync's arguments: the paths after a `--`, so none is read as an option; a remote destination's
 * path sent as is to the other side (`--protect-args`, never through its shell), and its user and
 * host refused here, before rsync runs, if ssh could read either as an option (rsync hands them to
 * ssh as `-l user host`).
 */
export function rsyncArgv(source: string, dest: string, options: RsyncOptions = {}): string[] {
  const argv = ['rsync', ...(options.args ?? []), '--info=progress2', '--no-inc-recursive', '--stats']
  // Against an earlier build, files are compared by content: a reproducible build dates every file
  // it changes with SOURCE_DATE_EPOCH (see repro/clamp.ts), so a file changed since that build can
  // have its size and time, and rsync's quick check would link the earlier build's file instead.
  if (options.linkDest) argv.push(`--link-dest=${options.linkDest}`, '--checksum')
  if (options.remote) argv.push('--protect-args', '-e', options.remote.shell)
  const target = `${dest.replace(/\/$/, '')}/`
  argv.push('--', `${source.replace(/\/$/, '')}/`, options.remote ? `${checkedLogin(options.remote.login)}:${target}` : target)
  return argv
}

function checkedLogin(login: string): string {
  const at = login.lastIndexOf('@')
  const problems = at < 0 ? [`${JSON.stringify(login)} is not user@host`] : [sshUserProblem(login.slice(0, at)), sshHostProblem(login.slice(at + 1))].filter((p) => p !== undefined)
  if (problems.length) throw new PibakeError(`refusing to run rsync to ${JSON.stringify(login)}: ${problems.join('; ')}`, 'give the destination a plain user and host')
  return login
}

/** Reads rsync's `--info=progress2` line: `  1,234,567  45%  12.34MB/s  0:00:01 (xfr#12, to-chk=…)`. */
export function parseProgress(line: string): { bytes: number; percent: number; files: number } | undefined {
  const match = /^\s*([\d,]+)\s+(\d+)%/.exec(line)
  if (!match) return undefined
  return { bytes: Number(match[1]!.replaceAll(',', '')), percent: Number(match[2]), files: Number(/xfr#(\d+)/.exec(line)?.[1] ?? 0) }
}

/** The numbers of rsync's `--stats` summary. */
export function parseStats(text: string): RsyncStats {
  const number = (label: string) => Number((new RegExp(`^${label}: ([\\d,]+)`, 'm').exec(text)?.[1] ?? '0').replaceAll(',', ''))
  return {
    files: number('Number of files'),
    transferred: number('Number of regular files transferred'),
    literalBytes: number('Literal data'),
    totalBytes: number('Total file size'),
  }
}
