/**
 * Writes a tree as a deterministic tar stream: `./` names in path order, owners by number, times
 * clamped, hard links as links to the first path of their group, xattrs in PAX headers (pax.ts).
 * The same tree gives the same bytes: nothing of the machine, the walk's order or the clock is in it.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import type { Header } from 'tar-stream'
import { PibakeError } from '../errors.ts'
import { pathXattrs } from '../system/xattr-calls.ts'
import type { Found } from '../snapshot/walk.ts'
import type { Entry } from '../snapshot/types.ts'
import { fitsUstar, idFitsUstar, paxBlock, paxRecords, type PaxFields } from './pax.ts'
import { treeInOrder } from './tree-order.ts'
import { encodeUstar, TYPEFLAGS, type UstarHeader } from './ustar.ts'

export interface PackOptions {
  /** Seconds since the epoch: every later modification time is written as this one. */
  readonly clamp: number
  /** A second tree (the boot files) written below `prefix` (`boot/firmware`) of the first. */
  readonly graft?: { readonly dir: string; readonly prefix: string }
  readonly signal?: AbortSignal
}

interface Item {
  readonly entry: Entry
  readonly absolute: string
  /** For a hard link: the path (as in the tree) of the first of its group. */
  readonly linkTo?: string
}

/** The size of the chunks the stream yields: headers and file contents are read straight into them. */
const CHUNK = 4 << 20

/**
 * The tar stream of `root` (and the graft), in chunks of about 4 MiB: read it to the end, or stop.
 * A chunk is valid until the next one is asked for (write it first, or copy it): the two buffers
 * are filled in turn. Files are read with synchronous calls straight into them: a thread-pool
 * round trip, a buffer and a stream per file made the export several times slower than GNU tar,
 * and a new 4 MiB buffer per chunk had V8 collecting its old space every few chunks.
 */
export async function* packTree(root: string, options: PackOptions): AsyncGenerator<Buffer> {
  const out = new Chunks()
  const first = new Map<string, string>()
  for (const { entry, absolute, inode } of withXattrs(root, options.graft)) {
    options.signal?.throwIfAborted()
    const linkTo = inode === undefined ? undefined : first.get(inode)
    if (inode !== undefined && linkTo === undefined) first.set(inode, entry.path)
    yield* writeEntry(out, linkTo === undefined ? { entry, absolute } : { entry, absolute, linkTo }, options.clamp)
  }
  yield* out.zeros(1024)
  yield* out.flush()
}

/** The chunk being filled, handed on as soon as it is full. */
class Chunks {
  readonly #buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)]
  #chunk = this.#buffers[0]!
  #used = 0

  get room(): number {
    return CHUNK - this.#used
  }

  *flush(): Generator<Buffer> {
    if (!this.#used) return
    yield this.#chunk.subarray(0, this.#used)
    this.#chunk = this.#chunk === this.#buffers[0] ? this.#buffers[1]! : this.#buffers[0]!
    this.#used = 0
  }

  *bytes(data: Buffer): Generator<Buffer> {
    for (let done = 0; done < data.length; ) {
      if (!this.room) yield* this.flush()
      const n = data.copy(this.#chunk, this.#used, done)
      this.#used += n
      done += n
    }
  }

  *zeros(length: number): Generator<Buffer> {
    while (length > 0) {
      if (!this.room) yield* this.flush()
      const n = Math.min(length, this.room)
      this.#chunk.fill(0, this.#used, this.#used + n)
      this.#used += n
      length -= n
    }
  }

  *header(header: UstarHeader): Generator<Buffer> {
    if (this.room < 512) yield* this.flush()
    encodeUstar(header, this.#chunk, this.#used)
    this.#used += 512
  }

  /** The first `size` bytes of the file `absolute`, padded to a whole block. */
  *file(absolute: string, size: number): Generator<Buffer> {
    const fd = fsCall(absolute, () => openSync(absolute, 'r'))
    try {
      for (let done = 0; done < size; ) {
        if (!this.room) yield* this.flush()
        const n = fsCall(absolute, () => readSync(fd, this.#chunk, this.#used, Math.min(size - done, this.room), done))
        if (!n) throw new PibakeError(`${absolute} shrank while it was exported (${done} of ${size} bytes)`, 'export a build that nothing writes to')
        this.#used += n
        done += n
      }
    } finally {
      closeSync(fd)
    }
    yield* this.zeros((512 - (size % 512)) % 512)
  }
}

function fsCall<T>(absolute: string, call: () => T): T {
  try {
    return call()
  } catch (error) {
    throw new PibakeError(`cannot export ${absolute}: ${(error as Error).message}`, 'export a build that nothing writes to, as root', { cause: error })
  }
}

/** Every path of the tree (and the graft) in order (tree-order.ts), with its xattrs. */
function* withXattrs(root: string, graft: PackOptions['graft']): Generator<Found> {
  for (const found of treeInOrder(root, graft)) {
    const attrs = pathXattrs(found.absolute)
    if (attrs) found.entry.xattrs = attrs
    yield found
  }
}

const TYPES: Record<Entry['type'], Header['type'] | undefined> = {
  file: 'file',
  dir: 'directory',
  symlink: 'symlink',
  char: 'character-device',
  block: 'block-device',
  fifo: 'fifo',
  socket: undefined,
}

function* writeEntry(out: Chunks, item: Item, clamp: number): Generator<Buffer> {
  const { entry } = item
  const baseType = TYPES[entry.type]
  // A socket is made by the program that listens on it; tar leaves it out too.
  if (!baseType) return
  const type: Header['type'] = item.linkTo !== undefined ? 'link' : baseType
  const name = entry.path === '/' ? './' : `.${entry.path}${type === 'directory' ? '/' : ''}`
  const linkname = item.linkTo !== undefined ? `.${item.linkTo}` : (entry.target ?? '')
  const mtime = Math.min(entry.mtime, clamp)
  const pax: PaxFields = {
    ...(fitsUstar(name) ? {} : { path: name }),
    ...(fitsUstar(linkname) ? {} : { linkpath: linkname }),
    ...(idFitsUstar(entry.uid) ? {} : { uid: entry.uid }),
    ...(idFitsUstar(entry.gid) ? {} : { gid: entry.gid }),
    ...(entry.xattrs && type !== 'link' ? { xattrs: hexValues(entry.xattrs) } : {}),
  }
  const records = paxRecords(pax)
  if (records.length) yield* out.bytes(paxBlock(records, mtime))
  const size = type === 'file' ? (entry.size ?? 0) : 0
  yield* out.header({
    name: pax.path === undefined ? name : ustarStandIn(name),
    typeflag: TYPEFLAGS[type!]!,
    mode: entry.mode,
    uid: pax.uid === undefined ? entry.uid : 0,
    gid: pax.gid === undefined ? entry.gid : 0,
    mtime: Math.max(0, mtime),
    size,
    linkname: pax.linkpath === undefined ? linkname : ustarStandIn(linkname),
    devmajor: entry.rdev?.major ?? 0,
    devminor: entry.rdev?.minor ?? 0,
  })
  if (size) yield* out.file(item.absolute, size)
}

/** What the ustar header says where the PAX header gives the real name: printable, at most 100 bytes. */
function ustarStandIn(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '_').slice(-100)
}

function hexValues(xattrs: Record<string, string>): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(xattrs).map(([name, hex]) => [name, Buffer.from(hex, 'hex')]))
}
