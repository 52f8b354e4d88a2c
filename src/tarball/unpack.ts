/**
 * Unpacks a tar stream into a new, empty folder, keeping what a root filesystem needs: owners (by
 * number), modes with setuid bits, times, hard links, symlinks, device nodes, FIFOs and extended
 * attributes. Every name is checked first (names.ts), and no entry is ever written through a
 * symlink: each folder on an entry's path must be a folder the archive made (or implied).
 *
 * The tree is made by a thread of its own (writer.ts), in the archive's order, while this thread
 * reads, decompresses and checks the archive; only files of 16 MiB and more are written here,
 * straight from the archive's chunks. Device nodes (a process each) are made together, once
 * what comes before them is there: at the end, or before a hard link to one.
 */
import { closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, openSync, chmodSync, utimesSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { extract, type Header } from 'tar-stream'
import { mknod, type NodeKind } from '../system/mknod.ts'
import { restoreXattrs } from '../system/setfattr.ts'
import { below, checkSymlinkTarget, entryPath, linkTargetPath, parents, TarballEntryError } from './names.ts'
import { paxId, readXattrs } from './pax.ts'
import { TreeWriter } from './writer.ts'

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

/** Files from this size on are written on this thread, straight from the archive's chunks, instead of copied into a batch. */
const LARGE_FILE = 16 << 20
/** Device nodes made at once (a process each). */
const NODES_AT_ONCE = 8

/** Unpacks the tar stream `input` into `dir` (which must exist and be empty). */
export async function unpackTar(input: Readable, dir: string, options: UnpackOptions): Promise<Unpacked> {
  const state = new Tree(dir, options)
  const reader = extract()
  input.on('error', (error) => reader.destroy(error))
  input.pipe(reader as unknown as NodeJS.WritableStream)
  let entries = 0
  try {
    for await (const entry of reader) {
      options.signal?.throwIfAborted()
      await state.add(entry.header, entry as AsyncIterable<Buffer>)
      entries++
    }
    await state.finish()
  } finally {
    await state.close()
  }
  return { entries, bytes: state.bytes }
}

type Kind = 'dir' | 'other'

interface PendingDir {
  readonly host: string
  readonly mode: number
  readonly mtime: Date
}

interface PendingNode {
  readonly host: string
  readonly kind: NodeKind
  readonly header: Header
  readonly uid: number
  readonly gid: number
}

class Tree {
  /** What each path of the tree is, as this archive made it so far (the folder was empty). */
  readonly #kinds = new Map<string, Kind>([['', 'dir']])
  readonly #dirs = new Map<string, PendingDir>()
  readonly #xattrs = new Map<string, Map<string, Buffer>>()
  readonly #splitXattrs = new Map<string, Map<string, Buffer>>()
  readonly #writer = new TreeWriter()
  /** Device nodes and FIFOs (a process each), made together once what comes before them is there. */
  readonly #nodes = new Map<string, PendingNode>()
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
    await this.#parents(header.name, path)
    const host = this.host(path)
    const existing = this.#kinds.get(path)
    const uid = paxId(header, 'uid')
    const gid = paxId(header, 'gid')
    if (existing === 'dir' && header.type !== 'directory') throw new TarballEntryError(archive, header.name, 'replaces a folder the archive made before it')
    // A node not made yet is simply not made.
    if (existing === 'other' && !this.#nodes.delete(path)) await this.#writer.add({ kind: 'unlink', path: host })
    switch (header.type) {
      case 'directory':
        await this.#writer.add(existing === 'dir' ? { kind: 'lchown', path: host, uid, gid } : { kind: 'mkdir', path: host, mode: 0o700, uid, gid })
        this.#dirs.set(path, { host, mode: header.mode, mtime: header.mtime })
        break
      case 'file':
      case 'contiguous-file':
        await this.#file(host, header, body, uid, gid)
        break
      case 'symlink':
        checkSymlinkTarget(archive, header.name, path, header.linkname)
        await this.#writer.add({ kind: 'symlink', path: host, target: header.linkname, uid, gid, mtime: header.mtime.getTime() / 1000 })
        break
      case 'link': {
        const target = linkTargetPath(archive, header.name, header.linkname)
        if (this.#kinds.get(target) !== 'other') throw new TarballEntryError(archive, header.name, `is a hard link to ${JSON.stringify(header.linkname)}, which is not a file of the archive before it`)
        if (this.#nodes.has(target)) await this.#settle()
        await this.#writer.add({ kind: 'link', path: host, existing: this.host(target) })
        break
      }
      default: {
        const kind = NODES[header.type]
        if (!kind) throw new TarballEntryError(archive, header.name, `has a type pibake does not unpack (${String(header.type)})`)
        this.#nodes.set(path, { host, kind, header, uid, gid })
      }
    }
    if (header.type !== 'directory') this.#kinds.set(path, 'other')
    else this.#kinds.set(path, 'dir')
    if (header.type !== 'link') this.#keepXattrs(header, path)
    for await (const _ of body) void _
  }

  /** Checks (and makes, when the archive left them out) the folders on the way to an entry. */
  async #parents(name: string, path: string): Promise<void> {
    for (const parent of parents(path)) {
      const kind = this.#kinds.get(parent)
      if (kind === 'dir') continue
      if (kind === 'other') throw new TarballEntryError(this.options.archive, name, `is below ${JSON.stringify(parent)}, which the archive made a symlink or file: it would be written outside the tree`)
      await this.#writer.add({ kind: 'mkdir', path: this.host(parent), mode: 0o755 })
      this.#kinds.set(parent, 'dir')
    }
  }

  async #file(host: string, header: Header, body: AsyncIterable<Buffer>, uid: number, gid: number): Promise<void> {
    const size = header.size ?? 0
    if (size >= LARGE_FILE) return this.#largeFile(host, header, body, uid, gid)
    await this.#writer.reserve(size)
    let length = 0
    for await (const chunk of body) {
      this.#writer.append(chunk)
      length += chunk.length
    }
    this.bytes += length
    await this.#writer.file({ path: host, uid, gid, mode: header.mode & 0o7777, mtime: header.mtime.getTime() / 1000 }, length)
  }

  /** A large file, written here straight from the archive's chunks once its folder is there. */
  async #largeFile(host: string, header: Header, body: AsyncIterable<Buffer>, uid: number, gid: number): Promise<void> {
    await this.#writer.flush()
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
    await this.#settle()
    await restoreXattrs(this.dir, this.#xattrs, this.options.signal)
    if (this.options.split) await restoreXattrs(this.options.split.dir, this.#splitXattrs, this.options.signal)
    const dirs = [...this.#dirs.values()].sort((a, b) => (a.host < b.host ? 1 : a.host > b.host ? -1 : 0))
    for (const { host, mode, mtime } of dirs) {
      chmodSync(host, mode & 0o7777)
      utimesSync(host, mtime, mtime)
    }
  }

  /** Waits until everything given so far is there, then makes the device nodes. */
  async #settle(): Promise<void> {
    await this.#writer.flush()
    const nodes = [...this.#nodes.values()]
    this.#nodes.clear()
    for (let start = 0; start < nodes.length; start += NODES_AT_ONCE) {
      await Promise.all(nodes.slice(start, start + NODES_AT_ONCE).map(async ({ host, kind, header, uid, gid }) => {
        await mknod(host, kind, header.mode, { major: header.devmajor, minor: header.devminor }, this.options.signal)
        lchownSync(host, uid, gid)
        chmodSync(host, header.mode & 0o7777)
        utimesSync(host, header.mtime, header.mtime)
      }))
    }
  }

  /** Stops the writing thread. */
  async close(): Promise<void> {
    await this.#writer.close()
  }
}
