/**
 * Unpacks a tar stream into a new, empty folder, keeping what a root filesystem needs: owners (by
 * number), modes with setuid bits, times, hard links, symlinks, device nodes, FIFOs and extended
 * attributes. Every name is checked first (names.ts), and no entry is ever written through a
 * symlink: each folder on an entry's path must be a folder the archive made (or implied).
 *
 * Files are written with synchronous calls: a call costs microseconds, and a thread-pool round
 * trip per call made unpacking tens of thousands of small files several times slower.
 */
import { closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, chmodSync, symlinkSync, unlinkSync, utimesSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { extract, type Header } from 'tar-stream'
import { mknod, type NodeKind } from '../system/mknod.ts'
import { restoreXattrs } from '../system/setfattr.ts'
import { below, checkSymlinkTarget, entryPath, linkTargetPath, parents, TarballEntryError } from './names.ts'
import { paxId, readXattrs } from './pax.ts'

export interface UnpackOptions {
  /** Names the archive in errors. */
  readonly archive: string
  /**
   * Entries below `prefix` (e.g. `boot/firmware`) go into `dir` instead, at the same path below it;
   * the prefix's own folder stays in the tree (an empty mount point).
   */
  readonly split?: { readonly prefix: string; readonly dir: string }
  readonly signal?: AbortSignal
}

export interface Unpacked {
  readonly entries: number
  /** Bytes of file contents written. */
  readonly bytes: number
}

const NODES: Partial<Record<Header['type'], NodeKind>> = { 'character-device': 'char', 'block-device': 'block', fifo: 'fifo' }

/** Unpacks the tar stream `input` into `dir` (which must exist and be empty). */
export async function unpackTar(input: Readable, dir: string, options: UnpackOptions): Promise<Unpacked> {
  const state = new Tree(dir, options)
  const reader = extract()
  input.on('error', (error) => reader.destroy(error))
  input.pipe(reader as unknown as NodeJS.WritableStream)
  let entries = 0
  for await (const entry of reader) {
    options.signal?.throwIfAborted()
    await state.add(entry.header, entry as AsyncIterable<Buffer>)
    entries++
  }
  await state.finish()
  return { entries, bytes: state.bytes }
}

type Kind = 'dir' | 'other'

interface PendingDir {
  readonly host: string
  readonly mode: number
  readonly mtime: Date
}

class Tree {
  /** What each path of the tree is, as this archive made it so far (the folder was empty). */
  readonly #kinds = new Map<string, Kind>([['', 'dir']])
  readonly #dirs = new Map<string, PendingDir>()
  readonly #xattrs = new Map<string, Map<string, Buffer>>()
  readonly #splitXattrs = new Map<string, Map<string, Buffer>>()
  bytes = 0

  readonly dir: string
  readonly options: UnpackOptions

  constructor(dir: string, options: UnpackOptions) {
    this.dir = dir
    this.options = options
  }

  /** Where `path` (relative to the tree) is on this machine. */
  host(path: string): string {
    const split = this.options.split
    const inSplit = split && below(split.prefix, path)
    return split && inSplit !== undefined ? join(split.dir, inSplit) : path ? join(this.dir, path) : this.dir
  }

  async add(header: Header, body: AsyncIterable<Buffer>): Promise<void> {
    const archive = this.options.archive
    const path = entryPath(archive, header.name)
    this.#parents(header.name, path)
    const host = this.host(path)
    const existing = this.#kinds.get(path)
    const uid = paxId(header, 'uid')
    const gid = paxId(header, 'gid')
    if (existing === 'dir' && header.type !== 'directory') throw new TarballEntryError(archive, header.name, 'replaces a folder the archive made before it')
    if (existing === 'other') unlinkSync(host)
    switch (header.type) {
      case 'directory':
        // A folder that replaces a file of the archive (unlinked above) is made too.
        if (existing !== 'dir') mkdirSync(host, { mode: 0o700 })
        lchownSync(host, uid, gid)
        this.#dirs.set(path, { host, mode: header.mode, mtime: header.mtime })
        break
      case 'file':
      case 'contiguous-file':
        await this.#file(host, header, body, uid, gid)
        break
      case 'symlink':
        checkSymlinkTarget(archive, header.name, path, header.linkname)
        symlinkSync(header.linkname, host)
        lchownSync(host, uid, gid)
        lutimesSync(host, header.mtime, header.mtime)
        break
      case 'link': {
        const target = linkTargetPath(archive, header.name, header.linkname)
        if (this.#kinds.get(target) !== 'other') throw new TarballEntryError(archive, header.name, `is a hard link to ${JSON.stringify(header.linkname)}, which is not a file of the archive before it`)
        linkSync(this.host(target), host)
        break
      }
      default: {
        const kind = NODES[header.type]
        if (!kind) throw new TarballEntryError(archive, header.name, `has a type pibake does not unpack (${String(header.type)})`)
        await mknod(host, kind, header.mode, { major: header.devmajor, minor: header.devminor }, this.options.signal)
        lchownSync(host, uid, gid)
        chmodSync(host, header.mode & 0o7777)
        utimesSync(host, header.mtime, header.mtime)
      }
    }
    if (header.type !== 'directory') this.#kinds.set(path, 'other')
    else this.#kinds.set(path, 'dir')
    if (header.type !== 'link') this.#keepXattrs(header, path)
    for await (const _ of body) void _
  }

  /** Checks (and makes, when the archive left them out) the folders on the way to an entry. */
  #parents(name: string, path: string): void {
    for (const parent of parents(path)) {
      const kind = this.#kinds.get(parent)
      if (kind === 'dir') continue
      if (kind === 'other') throw new TarballEntryError(this.options.archive, name, `is below ${JSON.stringify(parent)}, which the archive made a symlink or file: it would be written outside the tree`)
      mkdirSync(this.host(parent), { mode: 0o755 })
      this.#kinds.set(parent, 'dir')
    }
  }

  async #file(host: string, header: Header, body: AsyncIterable<Buffer>, uid: number, gid: number): Promise<void> {
    const fd = openSync(host, 'wx', 0o600)
    try {
      for await (const chunk of body) {
        let done = 0
        while (done < chunk.length) done += writeSync(fd, chunk, done)
        this.bytes += chunk.length
      }
      fchownSync(fd, uid, gid)
      fchmodSync(fd, header.mode & 0o7777)
      futimesSync(fd, header.mtime, header.mtime)
    } finally {
      closeSync(fd)
    }
  }

  #keepXattrs(header: Header, path: string): void {
    const { xattrs, damaged } = readXattrs(header)
    if (damaged.length) throw new TarballEntryError(this.options.archive, header.name, `has extended attributes whose values are not UTF-8 text (${damaged.join(', ')}), which pibake's tar reader cannot keep intact: repack it with bsdtar, which also writes them as LIBARCHIVE.xattr`)
    for (const name of xattrs.keys()) {
      if (name.startsWith('trusted.overlay.')) throw new TarballEntryError(this.options.archive, header.name, `has the overlayfs attribute ${name}, which would change how pibake's layers see the tree`)
    }
    if (!xattrs.size) return
    const split = this.options.split
    const inSplit = split && below(split.prefix, path)
    if (inSplit !== undefined) this.#splitXattrs.set(inSplit, xattrs)
    else this.#xattrs.set(path || '.', xattrs)
  }

  /** Extended attributes (after every chown, which drops file capabilities), then folder modes and times, innermost first. */
  async finish(): Promise<void> {
    await restoreXattrs(this.dir, this.#xattrs, this.options.signal)
    if (this.options.split) await restoreXattrs(this.options.split.dir, this.#splitXattrs, this.options.signal)
    const dirs = [...this.#dirs.values()].sort((a, b) => (a.host < b.host ? 1 : a.host > b.host ? -1 : 0))
    for (const { host, mode, mtime } of dirs) {
      chmodSync(host, mode & 0o7777)
      utimesSync(host, mtime, mtime)
    }
  }
}
