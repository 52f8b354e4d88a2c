/**
 * The names in a tarball are hostile until checked: an entry's path and a hard link's target must
 * stay inside the tree they are unpacked into (no absolute path, no `..`), and a symlink may not
 * point above the root from where it is (an absolute target is the image's own root, as in a chroot).
 */
import { PibakeError } from '../errors.ts'

/** Where the boot partition's files are inside a root tarball. */
export const BOOT_PREFIX = 'boot/firmware'

/** The error for an entry pibake will not unpack: which archive, which entry, why. */
export class TarballEntryError extends PibakeError {
  constructor(archive: string, name: string, why: string) {
    super(`${archive}: entry ${JSON.stringify(name)} ${why}`, 'pibake unpacks a root filesystem only when every entry stays inside it: check where the archive came from, or repack it (tar -C <root> -c .)')
  }
}

/** An archive name as a path relative to the tree (`''` for the tree itself), or a refusal. */
export function entryPath(archive: string, name: string): string {
  const problem = nameProblem(name)
  if (problem) throw new TarballEntryError(archive, name, problem)
  return normalize(name)
}

/** A hard link's target as a path relative to the tree, or a refusal naming the link's entry. */
export function linkTargetPath(archive: string, name: string, target: string): string {
  const problem = nameProblem(target)
  if (problem) throw new TarballEntryError(archive, name, `is a hard link to ${JSON.stringify(target)}, which ${problem}`)
  return normalize(target)
}

function nameProblem(name: string): string | undefined {
  if (name.startsWith('/')) return 'is an absolute path'
  if (name.includes('\0')) return 'holds a NUL byte'
  if (name.includes('..') && name.split('/').includes('..')) return 'has a ".." component: it would lead outside the tree'
  return undefined
}

/** A name without empty and `.` components. Most names are `./a/b` or `./a/b/` already: those are only cut. */
function normalize(name: string): string {
  const start = name.startsWith('./') ? 2 : 0
  let end = name.length
  if (name.endsWith('/')) end--
  const cut = name.slice(start, end)
  if (!cut.startsWith('/') && !cut.endsWith('/') && !cut.includes('//') && !cut.includes('/./') && !cut.startsWith('./') && !cut.endsWith('/.') && cut !== '.') return cut
  return name
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/')
}

/** Refuses a symlink at `path` (relative to the tree) whose relative target climbs above the tree's root. */
export function checkSymlinkTarget(archive: string, name: string, path: string, target: string): void {
  if (target === '' || target.includes('\0')) throw new TarballEntryError(archive, name, 'is a symlink with an empty target or a NUL byte in it')
  if (target.startsWith('/')) return
  let depth = path.split('/').length - 1
  for (const part of target.split('/')) {
    if (part === '..') depth--
    else if (part !== '' && part !== '.') depth++
    if (depth < 0) throw new TarballEntryError(archive, name, `is a symlink to ${JSON.stringify(target)}, which leads outside the tree`)
  }
}

/** The parent folders of `path`, outermost first (`a/b/c` → `a`, `a/b`). */
export function parents(path: string): string[] {
  const parts = path.split('/')
  return parts.slice(0, -1).map((_, index) => parts.slice(0, index + 1).join('/'))
}

/** `path` relative to `prefix` when it is below it (`boot/firmware/x` → `x`), else undefined. */
export function below(prefix: string, path: string): string | undefined {
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length + 1) : undefined
}
