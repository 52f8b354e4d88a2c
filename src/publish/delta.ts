/**
 * A new build of a root tree on this machine made from the previous one: every file hard-linked
 * (`cp -al`), then only the paths that may differ brought in line with the source. Which paths may
 * differ is known without walking the tree: everything outside the overlay layers is the image's own
 * root, the same in both builds, so a path can differ only if a layer of the previous build or of
 * this one holds it. What comes out equals what `rsync -aHAX --link-dest=<previous>` makes; where
 * that cannot be told cheaply (a changed file with other hard links in the tree, a folder whose
 * xattrs changed, a path under a symlink) the caller falls back to rsync.
 */
import type { Stats } from 'node:fs'
import { chmod, lchown, lstat, lutimes, readdir, readlink, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { readPathXattrs } from '../snapshot/xattrs.ts'
import { copyPaths, linkTreeCopy } from '../system/cp.ts'
import { sha256File } from '../system/walk.ts'

export interface DeltaResult {
  /** Regular files copied (new or changed), and their bytes. */
  readonly transferred: number
  readonly copiedBytes: number
  /** How the tree's regular-file bytes and entries changed against the previous build. */
  readonly bytesDelta: number
  readonly entriesDelta: number
}

/** Every path (relative, folders included) held by the layer folders `uppers`. */
export async function layerPaths(uppers: readonly string[]): Promise<string[]> {
  const paths = new Set<string>()
  for (const upper of uppers) {
    const pending = ['']
    for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
      const entries = await readdir(join(upper, path), { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? [] : Promise.reject(error)))
      for (const entry of entries) {
        const child = path ? `${path}/${entry.name}` : entry.name
        paths.add(child)
        if (entry.isDirectory()) pending.push(child)
      }
    }
  }
  return [...paths].sort()
}

/**
 * Makes `dest` (absent) from `previous` and `source` as described above, given `changed`: the
 * paths that may differ. Returns undefined, with `dest` removed, when rsync must do it.
 */
export async function deltaTree(source: string, previous: string, dest: string, changed: readonly string[], signal?: AbortSignal): Promise<DeltaResult | undefined> {
  await linkTreeCopy(previous, dest, signal)
  const result = await reconcile(source, dest, changed, signal)
  if (!result) await rm(dest, { recursive: true, force: true })
  return result
}

async function reconcile(source: string, dest: string, changed: readonly string[], signal?: AbortSignal): Promise<DeltaResult | undefined> {
  const copy: string[] = []
  const gone = new Set<string>()
  const dirs: string[] = []
  const isDir = new Set<string>()
  const same: string[] = []
  let bytesDelta = 0
  let entriesDelta = 0
  const under = (path: string) => ancestors(path).some((p) => gone.has(p))
  const remove = async (path: string) => {
    const size = await treeSize(join(dest, path))
    bytesDelta -= size.bytes
    entriesDelta -= size.entries
    await rm(join(dest, path), { recursive: true, force: true })
  }
  const bring = (path: string) => {
    copy.push(path)
    gone.add(path)
  }
  for (const path of ['', ...changed]) {
    signal?.throwIfAborted()
    if (under(path)) continue
    // Paths are sorted, parents first: one whose parent is not a folder on both sides is not an entry of its own.
    if (path && !isDir.has(parentOf(path))) return undefined
    const [s, d] = await Promise.all([lstat(join(source, path)).catch(() => undefined), lstat(join(dest, path)).catch(() => undefined)])
    if (!s) {
      if (d) await remove(path)
      gone.add(path)
    } else if (s.isDirectory()) {
      if (d && !d.isDirectory()) await remove(path)
      if (!d?.isDirectory()) {
        bring(path)
        continue
      }
      dirs.push(path)
      isDir.add(path)
      same.push(path)
      const [names, have] = await Promise.all([readdir(join(source, path)), readdir(join(dest, path))])
      const wanted = new Set(names)
      for (const name of have) if (!wanted.has(name)) await remove(join(path, name)).then(() => gone.add(join(path, name)))
      const present = new Set(have)
      for (const name of names) if (!present.has(name)) bring(join(path, name))
    } else if (d && (await sameEntry(join(source, path), s, join(dest, path), d))) {
      same.push(path)
    } else {
      if (d) await remove(path)
      bring(path)
    }
  }
  // An entry whose stat matches may still differ in its xattrs (a capability set on it, say).
  for (const path of await differingXattrs(source, dest, same, signal)) {
    if (isDir.has(path)) return undefined
    await remove(path)
    bring(path)
  }
  let transferred = 0
  let copiedBytes = 0
  for (const path of copy) {
    const size = await treeSize(join(source, path))
    // Hard links between a copied file and one elsewhere in the tree are rsync's to recreate.
    if (size.linked) return undefined
    transferred += size.files
    copiedBytes += size.bytes
    entriesDelta += size.entries
  }
  await copyPaths(source, copy, dest, signal)
  for (const path of dirs.reverse()) await sameAttributes(join(source, path), join(dest, path))
  return { transferred, copiedBytes, bytesDelta: bytesDelta + copiedBytes, entriesDelta }
}

/**
 * What rsync's quick check compares, with the owner, mode and (for links and devices) what they
 * point at, and a file's content (`rsync --checksum`): a reproducible build dates every file it
 * changes with SOURCE_DATE_EPOCH, so a file changed since the previous build can have its size and time.
 */
async function sameEntry(sourcePath: string, s: Stats, destPath: string, d: Stats): Promise<boolean> {
  if (s.mode !== d.mode || s.uid !== d.uid || s.gid !== d.gid || s.mtimeMs !== d.mtimeMs) return false
  if (s.isFile()) return s.size === d.size && (s.ino === d.ino || (await sameContent(sourcePath, destPath)))
  if (s.isSymbolicLink()) return (await readlink(sourcePath)) === (await readlink(destPath))
  if (s.isCharacterDevice() || s.isBlockDevice()) return s.rdev === d.rdev
  return true
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([sha256File(a), sha256File(b)])
  return x === y
}

/** The paths among `paths` whose xattrs differ between the two trees. */
async function differingXattrs(source: string, dest: string, paths: readonly string[], signal?: AbortSignal): Promise<string[]> {
  const [a, b] = await Promise.all([readPathXattrs(source, paths, signal), readPathXattrs(dest, paths, signal)])
  return paths.filter((path) => JSON.stringify(a.get(path) ?? {}) !== JSON.stringify(b.get(path) ?? {}))
}

/** Owner, mode and times of the folder `from` on the folder `to` (its entries changed under it). */
async function sameAttributes(from: string, to: string): Promise<void> {
  const [s, d] = await Promise.all([lstat(from), lstat(to)])
  if (s.uid !== d.uid || s.gid !== d.gid) await lchown(to, s.uid, s.gid)
  if (s.mode !== d.mode || s.uid !== d.uid || s.gid !== d.gid) await chmod(to, s.mode & 0o7777)
  await lutimes(to, s.atime, s.mtime)
}

/** Regular files, their bytes and all entries under `path` (itself included); `linked` when a file has other names. */
export async function treeSize(path: string): Promise<{ files: number; bytes: number; entries: number; linked: boolean }> {
  const total = { files: 0, bytes: 0, entries: 0, linked: false }
  const pending = [path]
  for (let here = pending.pop(); here !== undefined; here = pending.pop()) {
    const stats = await lstat(here).catch(() => undefined)
    if (!stats) continue
    total.entries++
    if (stats.isFile()) {
      total.files++
      total.bytes += stats.size
      total.linked ||= stats.nlink > 1
    } else if (stats.isDirectory()) {
      for (const name of await readdir(here)) pending.push(join(here, name))
    }
  }
  return total
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/')
  return slash < 0 ? '' : path.slice(0, slash)
}

function ancestors(path: string): string[] {
  const result: string[] = []
  for (let p = path; p; p = parentOf(p)) result.push(p)
  return result
}
