/**
 * cp, for whole trees on this machine: a first copy of a root filesystem with `cp -a` takes half
 * the time of rsync's per-file protocol, and a hard-linked copy of the previous build (`cp -al`)
 * is the start of a build that differs from it in a few paths.
 */
import { exec } from './exec.ts'

/** What cp keeps, as rsync's -aHAX --numeric-ids: modes, owners by number, times, links, hard links, xattrs (ACLs, capabilities). */
const ARCHIVE = ['--archive', '--no-target-directory']

/** Copies the tree `source` to `dest`, which must not exist. */
export async function copyTree(source: string, dest: string, signal?: AbortSignal): Promise<void> {
  await exec(['cp', ...ARCHIVE, '--', source, dest], { signal, hint: 'a full disk fails here too: check `df -h` on the destination' })
}

/** A copy of the tree `source` at `dest` (which must not exist) whose files are hard links to the source's. */
export async function linkTreeCopy(source: string, dest: string, signal?: AbortSignal): Promise<void> {
  await exec(['cp', ...ARCHIVE, '--link', '--', source, dest], { signal, hint: 'hard links need the two trees on one filesystem' })
}

/**
 * Copies `paths` (relative to `sourceRoot`, folders with their contents) to the same places under
 * `destRoot`, whose parent folders must exist there. Whatever is at a destination is removed first,
 * never written through: it may be a hard link shared with another build.
 */
export async function copyPaths(sourceRoot: string, paths: readonly string[], destRoot: string, signal?: AbortSignal): Promise<void> {
  // A few hundred paths per process: well under the kernel's limit on an argument list.
  for (let start = 0; start < paths.length; start += 500) {
    const batch = paths.slice(start, start + 500).map((path) => `./${path}`)
    await exec(['cp', '--archive', '--parents', '--remove-destination', `--target-directory=${destRoot}`, '--', ...batch], { cwd: sourceRoot, signal })
  }
}
