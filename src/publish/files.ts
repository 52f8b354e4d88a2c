/**
 * The file operations that publishing and the site need on a target host, behind one interface: the
 * site code never asks whether the host is this machine or one reached over SSH. Paths are absolute
 * on that host. Everything another machine may read while it changes is written to a temporary name
 * and renamed into place.
 */
import { constants } from 'node:fs'
import { link, lstat, mkdir, open, readdir, readFile, readlink, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import PQueue from 'p-queue'
import { PibakeError } from '../errors.ts'
import { switchSymlink } from './fsops.ts'
import { writeDurable } from '../system/durable.ts'

export interface HostFiles {
  /** How messages name the host's files: `/srv/tftp` here, `root@pxe1:/srv/tftp` over SSH. */
  describe(path: string): string
  /**
   * A file's text, or undefined when it does not exist. A file larger than `maxBytes` (default
   * MAX_TEXT_BYTES) is refused unread: what a target holds is not trusted to be the size pibake wrote.
   */
  readText(path: string, maxBytes?: number): Promise<string | undefined>
  /** Writes through a temporary name, flushed, then renamed: readers see old or new, never half. */
  writeAtomic(path: string, content: string, mode?: number): Promise<void>
  /** The names in a folder, or none when it does not exist. */
  list(dir: string): Promise<string[]>
  /** A symlink's target, or undefined when `path` is not a symlink. */
  readlink(path: string): Promise<string | undefined>
  /** Points the symlink `link` at `target` with one rename (refuses to replace anything but a symlink). */
  switchSymlink(link: string, target: string): Promise<void>
  /** The same for many links at once (a fleet's TFTP links): one operation on the host, not one per link. */
  switchSymlinks(links: readonly { readonly link: string; readonly target: string }[]): Promise<void>
  /** Removes a file, link or whole folder; nothing when it is not there. */
  remove(path: string): Promise<void>
  exists(path: string): Promise<boolean>
  /** Makes a folder and its parents. */
  mkdir(path: string, mode?: number): Promise<void>
  /** Renames a file or folder (replacing an empty folder or a file at `to`). */
  rename(from: string, to: string): Promise<void>
  /** Creates a file that must not exist yet; false when it does (a lock someone holds). */
  createExclusive(path: string, content: string): Promise<boolean>
  /** Gives the file `from` the second name `to` (a hard link), atomically; false when `to` exists. */
  link(from: string, to: string): Promise<boolean>
  /** Removes one file; false when it was not there (of two removing it at once, one gets true). */
  unlink(path: string): Promise<boolean>
  /** Sets a file's mtime to now, never creating it; false when it does not exist. */
  touch(path: string): Promise<boolean>
  /** When a file last changed (ms since the epoch), or undefined when it does not exist. */
  mtime(path: string): Promise<number | undefined>
}

/**
 * The most `readText` reads: a site record, read set, SBOM or snapshot pibake writes stays far
 * below it (the demo build's snapshot is 2 MB); a larger file on a target is not one of pibake's,
 * and reading it whole could exhaust memory.
 */
export const MAX_TEXT_BYTES = 128 * 1024 * 1024

/** The error for a file on a target larger than a reader takes. */
export function tooLarge(described: string, maxBytes: number): PibakeError {
  return new PibakeError(
    `${described} is larger than ${maxBytes} bytes, more than pibake ever writes there: not read`,
    'look at what the file is (something other than pibake wrote it, or it is damaged); remove or move it and publish again',
  )
}

/** The target is this machine (or a folder mounted here). */
export function localFiles(): HostFiles {
  return {
    describe: (path) => path,
    readText: async (path, maxBytes = MAX_TEXT_BYTES) => {
      const handle = await open(path, 'r').catch(ifMissing(undefined))
      if (!handle) return undefined
      try {
        // The size of what is open, not of what the name held a moment ago.
        if ((await handle.stat()).size > maxBytes) throw tooLarge(path, maxBytes)
        return await handle.readFile('utf8')
      } finally {
        await handle.close()
      }
    },
    writeAtomic: writeDurable,
    list: (dir) => readdir(dir).catch(ifMissing([] as string[])),
    readlink: (path) => readlink(path).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' || error.code === 'EINVAL' ? undefined : Promise.reject(error))),
    switchSymlink,
    switchSymlinks: async (links) => {
      const queue = new PQueue({ concurrency: 32 })
      await queue.addAll(links.map(({ link, target }) => () => switchSymlink(link, target)))
    },
    remove: (path) => rm(path, { recursive: true, force: true }),
    exists: (path) => lstat(path).then(() => true, ifMissing(false)),
    mkdir: async (path, mode = 0o755) => void (await mkdir(path, { recursive: true, mode })),
    rename,
    createExclusive: (path, content) =>
      writeFile(path, content, { flag: 'wx' }).then(
        () => true,
        (error: NodeJS.ErrnoException) => (error.code === 'EEXIST' ? false : Promise.reject(error)),
      ),
    link: (from, to) =>
      link(from, to).then(
        () => true,
        (error: NodeJS.ErrnoException) => (error.code === 'EEXIST' ? false : Promise.reject(error)),
      ),
    unlink: (path) => unlink(path).then(() => true, ifMissing(false)),
    touch: (path) => {
      const now = new Date()
      return utimes(path, now, now).then(() => true, ifMissing(false))
    },
    mtime: (path) => stat(path).then((s) => s.mtimeMs, ifMissing(undefined)),
  }
}

function ifMissing<T>(value: T): (error: NodeJS.ErrnoException) => Promise<T> {
  return (error) => (error.code === 'ENOENT' ? Promise.resolve(value) : Promise.reject(error))
}
