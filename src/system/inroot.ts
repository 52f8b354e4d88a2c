/**
 * Paths inside an image's root resolved the way a chroot would: an absolute symlink starts again
 * at the image's root, `..` stops at it. A path from a recipe or an overlay can therefore never
 * lead a read or a write outside the root, whatever symlinks the image holds.
 */
import { lstat, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'

const MAX_LINKS = 40

/**
 * The host path of `path` inside `root`. Symlinks in every component are followed within the root;
 * the last component is followed only with `followLast`. Components that don't exist are kept as
 * they are, so the result can be created.
 */
export async function resolveInRoot(root: string, path: string, options: { followLast?: boolean } = {}): Promise<string> {
  const pending = split(path)
  const resolved: string[] = []
  let links = 0
  while (pending.length) {
    const part = pending.shift()!
    if (part === '..') {
      resolved.pop()
      continue
    }
    const candidate = join(root, ...resolved, part)
    const isLast = pending.length === 0
    const info = await lstat(candidate).catch(() => undefined)
    if (!info?.isSymbolicLink() || (isLast && !options.followLast)) {
      resolved.push(part)
      continue
    }
    if (++links > MAX_LINKS) throw new PibakeError(`${path}: too many levels of symbolic links inside ${root}`)
    const target = await readlink(candidate)
    if (target.startsWith('/')) resolved.length = 0
    pending.unshift(...split(target))
  }
  return join(root, ...resolved)
}

function split(path: string): string[] {
  return path.split('/').filter((part) => part !== '' && part !== '.')
}
