/**
 * Writing into the staging root from the host without ever following one of its symlinks out of it
 * (an absolute symlink in the root points into the host's own tree).
 */
import { lstat, mkdir, realpath, rm, symlink, writeFile } from 'node:fs/promises'
import { dirname, join, relative, isAbsolute } from 'node:path'
import { PibakeError } from '../errors.ts'

/**
 * `path` inside `root` (an absolute path in the image), with its parent folders made, after
 * checking that the deepest existing one resolves inside the root.
 */
export async function inRoot(root: string, path: string): Promise<string> {
  const full = join(root, path)
  let existing = dirname(full)
  while (!(await lstat(existing).then(() => true, () => false))) existing = dirname(existing)
  const real = await realpath(existing)
  const rel = relative(await realpath(root), real)
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new PibakeError(`${path}: its folder resolves outside the image root (${real})`, 'a symlink in the staging root points out of it')
  }
  await mkdir(dirname(full), { recursive: true })
  return full
}

/** Replaces whatever is at `path` (a file or a symlink, never followed) with a file. */
export async function writeRootFile(root: string, path: string, content: string, mode = 0o644): Promise<void> {
  const full = await inRoot(root, path)
  await rm(full, { force: true })
  await writeFile(full, content, { mode, flag: 'wx' })
}

/** Creates (or replaces) the symlink `path -> target`. */
export async function writeRootSymlink(root: string, path: string, target: string): Promise<void> {
  const full = await inRoot(root, path)
  await rm(full, { force: true })
  await symlink(target, full)
}

/** Creates the directory `path` (and its parents) inside the root. */
export async function makeRootDir(root: string, path: string, mode = 0o755): Promise<void> {
  const full = await inRoot(root, path)
  await mkdir(full, { recursive: true, mode })
}

export async function existsInRoot(root: string, path: string): Promise<boolean> {
  return lstat(join(root, path)).then(() => true, () => false)
}
