/**
 * A full filesystem, told apart from other failures and named: which mount ran out, while doing
 * what, and about how much the work wanted. ENOSPC reaches pibake in two shapes, a Node error with
 * `code: 'ENOSPC'` and a host tool's message ("No space left on device", rsync's "(28)"), anywhere
 * in an error's chain of causes.
 */
import { stat, statfs } from 'node:fs/promises'
import { dirname } from 'node:path'
import { CommandError, PibakeError } from '../errors.ts'
import { formatBytes } from '../pipeline/events.ts'
import { resolvePath } from './paths.ts'

const NO_SPACE = /No space left on device|ENOSPC|Disk quota exceeded|EDQUOT/

/** Whether `error` (or an error it was caused by) says a filesystem is full. */
export function isNoSpace(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOSPC' || code === 'EDQUOT') return true
    if (NO_SPACE.test(e.message) || (e instanceof CommandError && NO_SPACE.test(e.stderrTail))) return true
  }
  return false
}

/** A place the failed work may have been writing to, and what it wants there. */
export interface SpaceWant {
  /** A folder on this machine; or, for a folder on another host, how to name it (`root@nfs1:/srv`). */
  readonly path: string
  readonly remote?: string
  /** About how many bytes the work wants there, and what that figure is. */
  readonly bytes?: number
  readonly why?: string
}

/** The mount point holding `path` (resolved): the highest folder above it on the same device. */
export async function mountPointOf(path: string): Promise<string> {
  let here = resolvePath(path)
  let device = (await stat(here).catch(() => undefined))?.dev
  while (device === undefined && dirname(here) !== here) {
    here = dirname(here)
    device = (await stat(here).catch(() => undefined))?.dev
  }
  for (let up = dirname(here); up !== here; here = up, up = dirname(here)) {
    if ((await stat(up)).dev !== device) return here
  }
  return here
}

/**
 * The error for a full filesystem met while doing `doing` (`overlay`, `publish to root@nfs1`):
 * the place whose path the error names, else the local place with the least room left, else the
 * first place. Its size and free room now (after the failed work's partial files were removed),
 * and what the work wanted there.
 */
export async function noSpaceError(doing: string, error: unknown, wants: readonly SpaceWant[]): Promise<PibakeError> {
  const text = errorText(error)
  const local = wants.filter((w) => !w.remote)
  const measured = await Promise.all(local.map(async (want) => ({ want, ...(await room(want.path)) })))
  const named = wants.find((w) => (w.remote ? text.includes(w.path) : false)) ?? measured.find((m) => m.mount && text.includes(m.mount) && m.mount !== '/')?.want
  const tightest = [...measured].filter((m) => m.size).sort((a, b) => (a.free ?? 0) / (a.size ?? 1) - (b.free ?? 0) / (b.size ?? 1))[0]?.want
  const want = named ?? tightest ?? wants[0]
  if (!want) return new PibakeError(`no space left on a filesystem while ${doing}`, 'free space and run the same command again', { cause: error })
  if (want.remote) {
    const needs = want.bytes === undefined ? '' : `; it wants about ${formatBytes(want.bytes)} there (${want.why})`
    return new PibakeError(`no space left on ${want.remote} while ${doing}${needs}`, `free space on that host (df -h ${want.path}), then run the same command again: the partial copy is resumed and the live build was not touched`, { cause: error })
  }
  const at = measured.find((m) => m.want === want)
  const where = at?.mount ?? want.path
  const size = at?.size === undefined ? '' : ` (${formatBytes(at.size)}, ${formatBytes(at.free ?? 0)} free now)`
  const needs = want.bytes === undefined ? '' : `; it wants about ${formatBytes(want.bytes)} there (${want.why})`
  return new PibakeError(
    `no space left on ${where}${size} while ${doing}${needs}`,
    `free space on ${where} (or use --out on a larger filesystem), then run the same command again: what finished stays cached, a partial copy is resumed, and the live build was not touched`,
    { cause: error },
  )
}

async function room(path: string): Promise<{ mount?: string; size?: number; free?: number }> {
  try {
    const mount = await mountPointOf(path)
    const fs = await statfs(mount)
    return { mount, size: fs.blocks * fs.bsize, free: fs.bavail * fs.bsize }
  } catch {
    return {}
  }
}

function errorText(error: unknown): string {
  const parts: string[] = []
  for (let e = error; e instanceof Error; e = e.cause) {
    parts.push(e.message, (e as NodeJS.ErrnoException).path ?? '')
    if (e instanceof CommandError) parts.push(e.stderrTail)
  }
  return parts.join('\n')
}
