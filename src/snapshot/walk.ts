/**
 * Walks a directory tree with `lstat` (never following a symlink, never leaving the tree) and
 * turns what it finds into snapshot entries, without contents hashes, xattrs or hard links yet.
 */
import { lstat, readdir, readlink } from 'node:fs/promises'
import type { BigIntStats } from 'node:fs'
import PQueue from 'p-queue'
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
}

const IO_CONCURRENCY = 16
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Walks `dir` (absolute and resolved). Resolves when every path has been reported. */
export async function walkTree(dir: string, options: WalkOptions): Promise<void> {
  const queue = new PQueue({ concurrency: IO_CONCURRENCY })
  const io = <T>(task: () => Promise<T>) => queue.add(task, { signal: options.signal })
  const visit = async (path: string): Promise<void> => {
    const absolute = hostPath(dir, path)
    const found = await describe(path, absolute, await io(() => lstat(absolute, { bigint: true })), io)
    options.onFound(found)
    if (found.entry.type !== 'dir') return
    const names = await io(() => readdir(absolute, { encoding: 'buffer' }))
    const children = names.map((name) => childPath(path, decodeName(name, `a name in ${absolute}`)))
    await Promise.all(children.filter((child) => !options.exclude?.(child)).map(visit))
  }
  try {
    await visit('/')
  } finally {
    queue.clear()
  }
}

async function describe(path: string, absolute: string, stats: BigIntStats, io: <T>(task: () => Promise<T>) => Promise<T>): Promise<Found> {
  const type = entryType(stats)
  const entry: Entry = { path, type, mode: Number(stats.mode & 0o7777n), uid: Number(stats.uid), gid: Number(stats.gid), mtime: seconds(stats.mtimeNs) }
  if (type === 'file') entry.size = Number(stats.size)
  if (type === 'symlink') entry.target = decodeName(await io(() => readlink(absolute, { encoding: 'buffer' })), `the target of ${absolute}`)
  if (type === 'char' || type === 'block') entry.rdev = splitDevice(stats.rdev)
  const found: Found = { entry, absolute }
  if (type !== 'dir' && stats.nlink > 1n) found.inode = `${stats.dev}:${stats.ino}`
  return found
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
  try {
    return utf8.decode(bytes)
  } catch {
    const shown = bytes.toString('latin1').replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    throw new PibakeError(`${what}, "${shown}", is not valid UTF-8 and cannot be recorded in a snapshot`, 'rename the file or fix the link (convmv converts names to UTF-8), or exclude its path from the snapshot')
  }
}

export function hostPath(dir: string, path: string): string {
  if (path === '/') return dir
  return dir === '/' ? path : dir + path
}

function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`
}
