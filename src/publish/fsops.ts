/** Filesystem moves that another machine may be reading through: staged, then switched in one rename. */
import { lstat, mkdir, rename, rm, symlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { PibakeError } from '../errors.ts'

/** Points the symlink `link` at `target` atomically (a new link renamed over the old one). */
export async function switchSymlink(link: string, target: string): Promise<void> {
  const existing = await lstat(link).catch(() => undefined)
  if (existing && !existing.isSymbolicLink()) {
    throw new PibakeError(`${link} exists and is not a symlink pibake made`, 'move it away: pibake only replaces links it manages')
  }
  await mkdir(dirname(link), { recursive: true })
  const temp = join(dirname(link), `.${basename(link)}.new`)
  await rm(temp, { force: true })
  await symlink(target, temp)
  await rename(temp, link)
}
