/**
 * Unpacks a tar stream into a new, empty folder, keeping what a root filesystem needs: owners (by
 * number), modes with setuid bits, times, hard links, symlinks, device nodes, FIFOs and extended
 * attributes. Every name is checked first (names.ts), and no entry is ever written through a
 * symlink: each folder on an entry's path must be a folder the archive made (or implied).
 *
 * Files are written with synchronous calls: a call costs microseconds, and a thread-pool round
 * trip per call made unpacking tens of thousands of small files several times slower.
 */
import { chmodSync, closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, symlinkSync, unlinkSync, utimesSync, writeSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { extract, type Header } from 'tar-stream'
import { PibakeError } from '../errors.ts'
import { restoreXattrs } from '../system/setfattr.ts'
import { PendingNodes, type PendingNode } from './nodes.ts'
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

/** An entry's contents as the parser hands them over (a streamx Readable), as far as the unpack uses them. */
interface Source {
  on(event: 'data', listener: (chunk: unknown) => void): unknown
  on(event: 'end', listener: () => void): unknown
  on(event: 'error', listener: (error: unknown) => void): unknown
}

const NODE_TYPES: ReadonlySet<string> = new Set<PendingNode['type']>(['character-device', 'block-device', 'fifo'])

/**
 * The tar stream is parsed in writes of up to this many bytes: a decompressor's output arrives in
 * 64 KiB pieces, and the parser goes through every piece it holds before it asks for more.
 */
const INPUT_BUFFER = 4 << 20

/** The error for an archive that ends early or is not tar where a header should be. */
export class TarballDamagedError extends PibakeError {
  constructor(archive: string, cause: Error) {
    super(`${archive} is not a complete tar archive: ${cause.message}`, 'a download cut short or a damaged copy ends this way: download or export it again', { cause })
  }
}

/**
 * Unpacks the tar stream `input` into `dir` (which must exist and be empty). The parser's entries
 * are taken by its event API, one at a time: each is made with synchronous calls, its contents
 * written as they arrive, and the next is asked for once it is whole (a promise and an async
 * iterator per entry and per chunk cost more than the calls that make a small file).
 */
export function unpackTar(input: Readable, dir: string, options: UnpackOptions): Promise<Unpacked> {
  const tree = new Tree(dir, options)
  const reader = extract({ highWaterMark: INPUT_BUFFER })
  const { signal } = options
  return new Promise<Unpacked>((resolve, reject) => {
    let entries = 0
    let busy = false
    let ended = false
    let failure: Error | undefined
    /** The entry being made: the parser destroys its contents with the error that stops it. */
    let current: Source | undefined
    const fail = (error: Error) => {
      if (failure) return
      failure = error
      current?.on('error', () => {})
      signal?.removeEventListener('abort', aborted)
      input.unpipe(reader as unknown as NodeJS.WritableStream)
      reader.destroy(error)
      reject(error)
    }
    const aborted = () => fail(signal!.reason as Error)
    const finish = () => {
      signal?.removeEventListener('abort', aborted)
      tree.finish().then(() => (failure ? undefined : resolve({ entries, bytes: tree.bytes })), fail)
    }
    if (signal?.aborted) return fail(signal.reason as Error)
    signal?.addEventListener('abort', aborted, { once: true })
    reader.on('entry', (header, body, next) => {
      if (failure) return
      busy = true
      current = body
      const done = (error?: Error) => {
        if (failure) return
        if (error) return fail(error)
        busy = false
        entries++
        // Asked for on a fresh stack: the parser would otherwise recurse once per entry of a chunk.
        if (ended) finish()
        else queueMicrotask(next)
      }
      try {
        tree.add(header, body, done)
      } catch (error) {
        fail(error as Error)
      }
    })
    // The parser's own errors: the archive ends early, or a header is not one.
    reader.on('error', (error: Error) => fail(new TarballDamagedError(options.archive, error)))
    reader.on('finish', () => {
      ended = true
      if (!busy && !failure) finish()
    })
    input.on('error', fail)
    input.pipe(reader as unknown as NodeJS.WritableStream)
  })
}

/** Reads past the contents an entry other than a file claims (there are none in a sane archive), then calls `done`. */
function skip(header: Header, body: Source, done: (error?: Error) => void): void {
  if (!(header.size > 0)) return done()
  body.on('data', () => {})
  body.on('end', () => done())
  body.on('error', (error) => done(error as Error))
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
  readonly #nodes = new PendingNodes()
  bytes = 0

  readonly dir: string
  readonly options: UnpackOptions

  constructor(dir: string, options: UnpackOptions) {
    this.dir = dir
    this.options = options
  }

  /** Where `path` (relative to the tree, normalized) is on this machine. */
  host(path: string): string {
    const split = this.options.split
    const inSplit = split && below(split.prefix, path)
    return split && inSplit !== undefined ? `${split.dir}/${inSplit}` : path ? `${this.dir}/${path}` : this.dir
  }

  /** The folder `path` goes in (the tree, or the split-off folder) and its path below that. */
  place(path: string): { base: string; path: string } {
    const split = this.options.split
    const inSplit = split && below(split.prefix, path)
    return split && inSplit !== undefined ? { base: split.dir, path: inSplit } : { base: this.dir, path }
  }

  /**
   * Makes the entry `header` (with its contents from `body`), then calls `done`: at once, or once
   * the contents are written or the node made. Throws what it refuses before it calls `done`.
   */
  add(header: Header, body: Source, done: (error?: Error) => void): void {
    const archive = this.options.archive
    const path = entryPath(archive, header.name)
    this.#parents(header.name, path)
    const host = this.host(path)
    const existing = this.#kinds.get(path)
    const uid = paxId(header, 'uid')
    const gid = paxId(header, 'gid')
    if (existing === 'dir' && header.type !== 'directory') throw new TarballEntryError(archive, header.name, 'replaces a folder the archive made before it')
    if (existing !== undefined) this.#dropXattrs(path)
    if (header.type !== 'link') this.#keepXattrs(header, path)
    // A node not made yet is replaced by forgetting it.
    if (existing === 'other' && !this.#nodes.drop(path)) unlinkSync(host)
    this.#kinds.set(path, header.type === 'directory' ? 'dir' : 'other')
    switch (header.type) {
      case 'directory':
        // A folder that replaces a file of the archive (unlinked above) is made too.
        if (existing !== 'dir') mkdirSync(host, { mode: 0o700 })
        lchownSync(host, uid, gid)
        this.#dirs.set(path, { host, mode: header.mode, mtime: header.mtime })
        return done()
      case 'file':
      case 'contiguous-file':
        return this.#file(host, header, body, uid, gid, done)
      case 'symlink':
        checkSymlinkTarget(archive, header.name, path, header.linkname)
        symlinkSync(header.linkname, host)
        lchownSync(host, uid, gid)
        lutimesSync(host, header.mtime, header.mtime)
        return skip(header, body, done)
      case 'link': {
        const target = linkTargetPath(archive, header.name, header.linkname)
        if (this.#kinds.get(target) !== 'other') throw new TarballEntryError(archive, header.name, `is a hard link to ${JSON.stringify(header.linkname)}, which is not a file of the archive before it`)
        if (!this.#nodes.has(target)) {
          linkSync(this.host(target), host)
          return skip(header, body, done)
        }
        // A link to a node: the nodes are made first.
        this.#nodes.make(this.options.signal).then(() => {
          linkSync(this.host(target), host)
          skip(header, body, done)
        }, done)
        return
      }
      default: {
        if (!NODE_TYPES.has(header.type)) throw new TarballEntryError(archive, header.name, `has a type pibake does not unpack (${String(header.type)})`)
        const { base, path: below } = this.place(path)
        this.#nodes.add(path, { base, path: below, type: header.type as PendingNode['type'], mode: header.mode, uid, gid, mtime: header.mtime, devmajor: header.devmajor, devminor: header.devminor })
        return skip(header, body, done)
      }
    }
  }

  /**
   * Checks (and makes, when the archive left them out) the folders on the way to an entry. A
   * folder of the archive had its own way checked when it was made, and is never replaced by
   * anything but a folder: an entry whose parent is one needs no more.
   */
  #parents(name: string, path: string): void {
    const slash = path.lastIndexOf('/')
    if (slash < 0 || this.#kinds.get(path.slice(0, slash)) === 'dir') return
    for (const parent of parents(path)) {
      const kind = this.#kinds.get(parent)
      if (kind === 'dir') continue
      if (kind === 'other') throw new TarballEntryError(this.options.archive, name, `is below ${JSON.stringify(parent)}, which the archive made a symlink or file: it would be written outside the tree`)
      mkdirSync(this.host(parent), { mode: 0o755 })
      this.#kinds.set(parent, 'dir')
    }
  }

  /** Writes a file's contents as they arrive, each chunk with synchronous writes. */
  #file(host: string, header: Header, body: Source, uid: number, gid: number, done: (error?: Error) => void): void {
    const fd = openSync(host, 'wx', 0o600)
    let open = true
    const close = (error?: Error) => {
      if (!open) return
      open = false
      try {
        if (!error) {
          fchownSync(fd, uid, gid)
          fchmodSync(fd, header.mode & 0o7777)
          futimesSync(fd, header.mtime, header.mtime)
        }
      } catch (failure) {
        error = failure as Error
      } finally {
        closeSync(fd)
      }
      done(error)
    }
    if (!(header.size > 0)) return close()
    body.on('data', (data) => {
      if (!open) return
      const chunk = data as Buffer
      try {
        let written = 0
        while (written < chunk.length) written += writeSync(fd, chunk, written)
        this.bytes += chunk.length
      } catch (error) {
        close(error as Error)
      }
    })
    body.on('end', () => close())
    body.on('error', (error) => close(error as Error))
  }

  /** Forgets the extended attributes of an entry that a later one replaces. */
  #dropXattrs(path: string): void {
    const split = this.options.split
    const inSplit = split && below(split.prefix, path)
    if (inSplit !== undefined) this.#splitXattrs.delete(inSplit)
    else this.#xattrs.delete(path || '.')
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

  /** The nodes not made yet; extended attributes (after every chown, which drops file capabilities); then folder modes and times, innermost first. */
  async finish(): Promise<void> {
    await this.#nodes.make(this.options.signal)
    await restoreXattrs(this.dir, this.#xattrs, this.options.signal)
    if (this.options.split) await restoreXattrs(this.options.split.dir, this.#splitXattrs, this.options.signal)
    const dirs = [...this.#dirs.values()].sort((a, b) => (a.host < b.host ? 1 : a.host > b.host ? -1 : 0))
    for (const { host, mode, mtime } of dirs) {
      chmodSync(host, mode & 0o7777)
      utimesSync(host, mtime, mtime)
    }
  }
}
