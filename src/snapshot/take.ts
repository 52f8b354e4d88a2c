/**
 * Takes a snapshot of a directory tree: metadata of every path, contents hashes, xattrs and hard
 * link groups. The walk (on this thread), the hashing (in worker threads, hash-pool.ts) and the one
 * getfattr process run side by side.
 */
import { realpath, stat } from 'node:fs/promises'
import { PibakeError } from '../errors.ts'
import { HashPool } from './hash-pool.ts'
import { walkTree, type Found } from './walk.ts'
import { readTreeXattrs } from './xattrs.ts'
import { comparePaths, type Entry, type Snapshot, type SnapshotOptions } from './types.ts'

/** Files found but not hashed yet, beyond which the walk waits. */
const HASH_BACKLOG = 2000

export async function takeSnapshot(dir: string, options: SnapshotOptions = {}): Promise<Snapshot> {
  const root = await resolveDirectory(dir)
  const taken = new Date().toISOString()
  const stop = new AbortController()
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal
  const fail = (error: unknown) => stop.abort(error)
  try {
    const [found, xattrs] = await Promise.all([collect(root, { ...options, signal, fail }), readTreeXattrs(root, signal)])
    signal.throwIfAborted()
    for (const { entry } of found) {
      const attrs = xattrs.get(entry.path)
      if (attrs) entry.xattrs = sortedRecord(attrs)
    }
    markHardLinks(found)
    const entries = found.map((f) => orderFields(f.entry)).sort((a, b) => comparePaths(a.path, b.path))
    return { format: 'pibake-snapshot', version: 1, source: root, taken, entries }
  } catch (error) {
    fail(error)
    throw options.signal?.aborted ? options.signal.reason : error
  }
}

interface CollectOptions extends SnapshotOptions {
  signal: AbortSignal
  /** Stops everything else at the first failure. */
  fail: (error: unknown) => void
}

/** Walks the tree and hashes every file as soon as it is found; the walk waits while the hash backlog is long. */
async function collect(root: string, options: CollectOptions): Promise<Found[]> {
  const { signal, fail } = options
  const found: Found[] = []
  const hashing: Promise<void>[] = []
  const pool = new HashPool()
  const stopHashing = () => void pool.close(signal.reason)
  signal.addEventListener('abort', stopHashing, { once: true })
  let done = 0
  const progress = () => options.onProgress?.(++done)
  const onFound = (item: Found) => {
    found.push(item)
    if (item.entry.type !== 'file') return progress()
    const { entry, absolute } = item
    const hashed = pool.hash(absolute, entry.size ?? 0).then((sha256) => {
      entry.sha256 = sha256
      progress()
    }, (error: unknown) => {
      fail(error)
      throw error
    })
    // Awaited only once the walk is over: until then a failure (an abort closes the pool and fails
    // every file in it) must not count as unhandled, which would end the process.
    hashed.catch(() => undefined)
    hashing.push(hashed)
  }
  // Resolves at once while the backlog is short; when it is long, until it has halved.
  const ready = () => (pool.backlog < HASH_BACKLOG ? Promise.resolve() : pool.backlogBelow(HASH_BACKLOG / 2))
  try {
    await walkTree(root, { signal, exclude: options.exclude, onFound, ready })
    await Promise.all(hashing)
    return found
  } catch (error) {
    fail(error)
    await Promise.allSettled(hashing)
    throw error
  } finally {
    signal.removeEventListener('abort', stopHashing)
    await pool.close()
  }
}

/** Every member of a hard link group (two or more paths of the snapshot) gets the group's first path. */
export function markHardLinks(found: readonly { readonly entry: Entry; readonly inode?: string | undefined }[]): void {
  const groups = new Map<string, Entry[]>()
  for (const { entry, inode } of found) {
    if (!inode) continue
    const members = groups.get(inode)
    if (members) members.push(entry)
    else groups.set(inode, [entry])
  }
  for (const members of groups.values()) {
    if (members.length < 2) continue
    const first = members.map((m) => m.path).sort(comparePaths)[0]
    for (const member of members) member.hardlink = first
  }
}

async function resolveDirectory(dir: string): Promise<string> {
  const hint = 'give the directory holding the root filesystem (a published build, or a mounted image)'
  const info = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    throw new PibakeError(`cannot snapshot ${dir}: ${error.code === 'ENOENT' ? 'it does not exist' : error.message}`, hint, { cause: error })
  })
  if (!info.isDirectory()) throw new PibakeError(`cannot snapshot ${dir}: it is not a directory`, hint)
  return realpath(dir)
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => comparePaths(a, b)))
}

/** The same key order in every entry, so saved snapshots read (and diff as text) alike. */
function orderFields(entry: Entry): Entry {
  const { path, type, mode, uid, gid, size, sha256, target, rdev, xattrs, hardlink, mtime } = entry
  return {
    path, type, mode, uid, gid,
    ...(size === undefined ? {} : { size }),
    ...(sha256 === undefined ? {} : { sha256 }),
    ...(target === undefined ? {} : { target }),
    ...(rdev === undefined ? {} : { rdev }),
    ...(xattrs === undefined ? {} : { xattrs }),
    ...(hardlink === undefined ? {} : { hardlink }),
    mtime,
  }
}
