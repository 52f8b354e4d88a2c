/**
 * Unpacks a tar stream into a new, empty folder, keeping what a root filesystem needs: owners (by
 * number), modes with setuid bits, times, hard links, symlinks, device nodes, FIFOs and extended
 * attributes. Every name is checked first (names.ts), and no entry is ever written through a
 * symlink: each folder on an entry's path must be a folder the archive made (or implied).
 *
 * The checks run here, on the calling thread (an image tarball's own: unpack-thread.ts), entry by
 * entry, before the entry is queued; the tree itself is made by a thread of its own (writer.ts) in
 * the archive's order, while this one goes on to the next entries: on two cores the kernel's file
 * creation overlaps the parsing.
 */
import { chmodSync, utimesSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { extract, type Header } from 'tar-stream'
import { PibakeError } from '../errors.ts'
import { restoreXattrs } from '../system/setfattr.ts'
import { PendingNodes, type PendingNode } from './nodes.ts'
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

/** An entry's contents as the parser hands them over (a streamx Readable), as far as the unpack uses them. */
interface Source {
  on(event: 'data', listener: (chunk: unknown) => void): unknown
  on(event: 'end', listener: () => void): unknown
  on(event: 'error', listener: (error: unknown) => void): unknown
  pause(): unknown
  resume(): unknown
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
 * are taken by its event API, one at a time: each is checked and queued for the writer, its
 * contents as they arrive, and the next is asked for once it is whole (a promise and an async
 * iterator per entry and per chunk cost more than the work of a small file); while the writer is
 * behind, the archive waits. Settles once the writer's thread is gone: after a failure, nothing
 * touches the tree any more.
 */
export function unpackTar(input: Readable, dir: string, options: UnpackOptions): Promise<Unpacked> {
  const reader = extract({ highWaterMark: INPUT_BUFFER })
  const { signal } = options
  return new Promise<Unpacked>((resolve, reject) => {
    const tree = new Tree(dir, options, (error) => fail(error))
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
      const rejected = () => reject(error)
      tree.close().then(rejected, rejected)
    }
    const aborted = () => fail(signal!.reason as Error)
    // The writer may be far behind the parser: an abort counts until the tree is finished.
    const finish = () => {
      tree
        .finish()
        .then(() => tree.close())
        .then(() => {
          signal?.removeEventListener('abort', aborted)
          if (!failure) resolve({ entries, bytes: tree.bytes })
        }, fail)
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
        if (ended) return finish()
        // Asked for on a fresh stack (the parser would otherwise recurse once per entry of a
        // chunk), once the writer has room.
        tree.whenReady(() => {
          if (!failure) queueMicrotask(next)
        })
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
  readonly #writer: TreeWriter
  bytes = 0

  readonly dir: string
  readonly options: UnpackOptions

  /** `onFailure` hears of a call that failed on the writer's thread. */
  constructor(dir: string, options: UnpackOptions, onFailure: (error: Error) => void) {
    this.dir = dir
    this.options = options
    this.#writer = new TreeWriter(onFailure)
  }

  /** Calls `resume` once the writer has room for more. */
  whenReady(resume: () => void): void {
    this.#writer.whenReady(resume)
  }

  /** Stops the writer's thread; resolves once it is gone. */
  close(): Promise<void> {
    return this.#writer.close()
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
   * Queues the entry `header` (with its contents from `body`) for the writer, then calls `done`:
   * at once, or once the contents are queued or the node made. Throws what it refuses before it
   * queues anything of the entry.
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
    const writer = this.#writer
    // The checks that may refuse the entry come before anything of it is queued.
    if (header.type === 'symlink') checkSymlinkTarget(archive, header.name, path, header.linkname)
    const target = header.type === 'link' ? linkTargetPath(archive, header.name, header.linkname) : undefined
    if (target !== undefined && this.#kinds.get(target) !== 'other') throw new TarballEntryError(archive, header.name, `is a hard link to ${JSON.stringify(header.linkname)}, which is not a file of the archive before it`)
    if (header.type !== 'directory' && header.type !== 'file' && header.type !== 'contiguous-file' && header.type !== 'symlink' && header.type !== 'link' && !NODE_TYPES.has(header.type)) {
      throw new TarballEntryError(archive, header.name, `has a type pibake does not unpack (${String(header.type)})`)
    }
    // A node not made yet is replaced by forgetting it.
    if (existing === 'other' && !this.#nodes.drop(path)) writer.unlink(host)
    this.#kinds.set(path, header.type === 'directory' ? 'dir' : 'other')
    switch (header.type) {
      case 'directory':
        // A folder that replaces a file of the archive (unlinked above) is made too.
        if (existing !== 'dir') writer.mkdir(host, 0o700)
        writer.lchown(host, uid, gid)
        this.#dirs.set(path, { host, mode: header.mode, mtime: header.mtime })
        return done()
      case 'file':
      case 'contiguous-file':
        return this.#file(host, header, body, uid, gid, done)
      case 'symlink':
        writer.symlink(header.linkname, host, uid, gid, seconds(header.mtime))
        return skip(header, body, done)
      case 'link': {
        if (!this.#nodes.has(target!)) {
          writer.link(this.host(target!), host)
          return skip(header, body, done)
        }
        // A link to a node: the nodes are made first, in the folders the writer made.
        writer
          .flush()
          .then(() => this.#nodes.make(this.options.signal))
          .then(() => {
            writer.link(this.host(target!), host)
            skip(header, body, done)
          }, done)
        return
      }
      default: {
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
      this.#writer.mkdir(this.host(parent), 0o755)
      this.#kinds.set(parent, 'dir')
    }
  }

  /** Queues a file and its contents as they arrive; holds them back while the writer is behind. */
  #file(host: string, header: Header, body: Source, uid: number, gid: number, done: (error?: Error) => void): void {
    const writer = this.#writer
    const end = () => {
      writer.finishFile(uid, gid, header.mode & 0o7777, seconds(header.mtime))
      done()
    }
    writer.createFile(host)
    if (!(header.size > 0)) return end()
    body.on('data', (data) => {
      const chunk = data as Buffer
      writer.write(chunk)
      this.bytes += chunk.length
      if (!writer.busy) return
      body.pause()
      writer.whenReady(() => body.resume())
    })
    body.on('end', end)
    body.on('error', (error) => done(error as Error))
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

  /** What the writer was given; the nodes not made yet; extended attributes (after every chown, which drops file capabilities); then folder modes and times, innermost first. */
  async finish(): Promise<void> {
    await this.#writer.flush()
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

/** A time as the seconds the writer's calls take. */
function seconds(date: Date): number {
  return date.getTime() / 1000
}
