/**
 * Walks a directory tree with `lstat` (never following a symlink, never leaving the tree) and
 * turns what it finds into snapshot entries, without contents hashes, xattrs or hard links yet.
 *
 * Each directory is read with synchronous calls, and the walk yields to the event loop between
 * directories: metadata calls are microseconds each, and a thread pool round trip per call made
 * the walk several times slower. Contents are hashed asynchronously by the caller meanwhile.
 */
import { isUtf8 } from 'node:buffer'
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { PibakeError } from '../errors.ts'
import type { Entry, EntryType } from './types.ts'

export interface Found {
  entry: Entry
  /** Where the entry is on the host. */
  absolute: string
  /** `dev:ino`, for non-directories with more than one link: the hard link group it belongs to. */
  inode?: string
}

export interface WalkOptions {
  signal?: AbortSignal
  exclude?: (path: string) => boolean
  /** Called once for every path, the root included, as soon as its metadata is known. */
  onFound: (found: Found) => void
  /** Awaited before each directory is read: lets the consumer hold the walk back (backpressure). */
  ready?: () => Promise<void>
}

/** Walks `dir` (absolute and resolved). Resolves when every path has been reported. */
export async function walkTree(dir: string, options: WalkOptions): Promise<void> {
  const root = describe('/', dir)
  options.onFound(root)
  const directories = [root.entry.path]
  for (let path = directories.pop(); path !== undefined; path = directories.pop()) {
    await nextTurn()
    await options.ready?.()
    options.signal?.throwIfAborted()
    for (const found of readDirectory(dir, path, options.exclude)) {
      options.onFound(found)
      if (found.entry.type === 'dir') directories.push(found.entry.path)
    }
  }
}

/** The entries of the folder `path` (a snapshot path below `dir`), in the order the folder lists them. */
export function readDirectory(dir: string, path: string, exclude?: WalkOptions['exclude']): Found[] {
  const absolute = hostPath(dir, path)
  const names = fsCall(absolute, () => readdirSync(absolute, { encoding: 'buffer' }))
  const children = names.map((name) => childPath(path, decodeName(name, `a name in ${absolute}`)))
  return children.filter((child) => !exclude?.(child)).map((child) => describe(child, hostPath(dir, child)))
}

/** The entry at `absolute`, recorded as `path`. */
export function describe(path: string, absolute: string): Found {
  const stats = fsCall(absolute, () => lstatSync(absolute, { bigint: true }))
  const type = entryType(stats)
  const entry: Entry = { path, type, mode: Number(stats.mode & 0o7777n), uid: Number(stats.uid), gid: Number(stats.gid), mtime: seconds(stats.mtimeNs) }
  if (type === 'file') entry.size = Number(stats.size)
  if (type === 'symlink') entry.target = decodeName(fsCall(absolute, () => readlinkSync(absolute, { encoding: 'buffer' })), `the target of ${absolute}`)
  if (type === 'char' || type === 'block') entry.rdev = splitDevice(stats.rdev)
  const found: Found = { entry, absolute }
  if (type !== 'dir' && stats.nlink > 1n) found.inode = `${stats.dev}:${stats.ino}`
  return found
}

/** Runs a filesystem call; a failure becomes a PibakeError that says where and what to do. */
function fsCall<T>(absolute: string, call: () => T): T {
  try {
    return call()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? ''
    const hint = code === 'ENOENT' ? 'the tree changed while the snapshot was taken; snapshot a tree that nothing writes to' : undefined
    throw new PibakeError(`cannot snapshot ${absolute}: ${(error as Error).message}`, hint, { cause: error })
  }
}

function entryType(stats: BigIntStats): EntryType {
  if (stats.isFile()) return 'file'
  if (stats.isDirectory()) return 'dir'
  if (stats.isSymbolicLink()) return 'symlink'
  if (stats.isCharacterDevice()) return 'char'
  if (stats.isBlockDevice()) return 'block'
  if (stats.isFIFO()) return 'fifo'
  return 'socket'
}

/** Linux's `dev_t` layout (glibc `gnu_dev_major`/`gnu_dev_minor`). */
export function splitDevice(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)
  return { major: Number(major), minor: Number(minor) }
}

/** Whole seconds, rounded down like `st_mtim.tv_sec` (also before 1970). */
function seconds(nanoseconds: bigint): number {
  const whole = nanoseconds / 1_000_000_000n
  return Number(nanoseconds < 0n && whole * 1_000_000_000n !== nanoseconds ? whole - 1n : whole)
}

function decodeName(bytes: Buffer, what: string): string {
  // isUtf8 and toString: an eighth of what a fatal TextDecoder costs per name, and a leading U+FEFF is kept.
  if (isUtf8(bytes)) return bytes.toString('utf8')
  const shown = bytes.toString('latin1').replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
  throw new PibakeError(`${what}, "${shown}", is not valid UTF-8 and cannot be recorded in a snapshot`, 'rename the file or fix the link (convmv converts names to UTF-8), or exclude its path from the snapshot')
}

export function hostPath(dir: string, path: string): string {
  if (path === '/') return dir
  return dir === '/' ? path : dir + path
}

function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`
}
