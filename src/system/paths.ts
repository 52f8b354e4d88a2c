/**
 * Paths as the kernel names them. The mount table, `/proc` and remote hosts speak in resolved
 * paths, and a comparison of one with a path that runs through a symbolic link fails silently:
 * every folder a user gives (`--out` above all) is resolved here, once, where it enters.
 */
import { mkdirSync, realpathSync } from 'node:fs'
import { mkdir, realpath } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'

/** Creates the folder `dir` if it is missing, then returns its real path (no symbolic link left in it). */
export async function resolveDir(dir: string): Promise<string> {
  const absolute = resolve(dir)
  await mkdir(absolute, { recursive: true })
  return realpath(absolute)
}

/** resolveDir, for the command line's synchronous option handling. */
export function resolveDirSync(dir: string): string {
  const absolute = resolve(dir)
  mkdirSync(absolute, { recursive: true })
  return realpathSync(absolute)
}

/**
 * The real path of `path` without creating anything: its deepest existing ancestor resolved, the
 * missing rest appended as given.
 */
export function resolvePath(path: string): string {
  const absolute = resolve(path)
  const missing: string[] = []
  for (let here = absolute; ; here = dirname(here)) {
    try {
      return join(realpathSync(here), ...missing.reverse())
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || here === dirname(here)) throw error
      missing.push(basename(here))
    }
  }
}
