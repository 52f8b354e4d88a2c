/**
 * Writes a tree as a deterministic tar stream: `./` names in path order, owners by number, times
 * clamped, hard links as links to the first path of their group, xattrs in PAX headers (pax.ts).
 * The same tree gives the same bytes: nothing of the machine, the walk's order or the clock is in it.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import type { Header } from 'tar-stream'
import { PibakeError } from '../errors.ts'
import { readTreeXattrs } from '../snapshot/xattrs.ts'
import { walkTree, type Found } from '../snapshot/walk.ts'
import { comparePaths, type Entry } from '../snapshot/types.ts'
import { fitsUstar, idFitsUstar, paxBlock, paxRecords, type PaxFields } from './pax.ts'
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
  for (const item of await collect(root, options)) {
    options.signal?.throwIfAborted()
    yield* writeEntry(out, item, options.clamp)
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

/** Every path of the tree (and the graft), sorted, with xattrs, hard links resolved to their first path. */
async function collect(root: string, options: PackOptions): Promise<Item[]> {
  const found = await walkWithXattrs(root, '', options.signal)
  const graft = options.graft
  if (graft) {
    const inside = found.find((f) => f.entry.path.startsWith(`/${graft.prefix}/`))
    if (inside) throw new PibakeError(`${root}${inside.entry.path}: the tree already holds files in /${graft.prefix}, where the boot files ${graft.dir} would go`, `empty /${graft.prefix} in the tree (it is the boot partition's mount point), or export the folder alone`)
    const grafted = await walkWithXattrs(graft.dir, `/${graft.prefix}`, options.signal)
    const mountPoint = found.findIndex((f) => f.entry.path === `/${graft.prefix}`)
    // The graft's own folder is the mount point's when the tree has one.
    if (mountPoint >= 0) grafted.shift()
    found.push(...grafted)
  }
  found.sort((a, b) => comparePaths(a.entry.path, b.entry.path))
  const first = new Map<string, string>()
  return found.map(({ entry, absolute, inode }) => {
    if (!inode) return { entry, absolute }
    const linkTo = first.get(inode)
    if (linkTo === undefined) first.set(inode, entry.path)
    return linkTo === undefined ? { entry, absolute } : { entry, absolute, linkTo }
  })
}

async function walkWithXattrs(dir: string, prefix: string, signal?: AbortSignal): Promise<Found[]> {
  const found: Found[] = []
  const [xattrs] = await Promise.all([readTreeXattrs(dir, signal), walkTree(dir, { signal, onFound: (item) => found.push(item) })])
  for (const item of found) {
    const attrs = xattrs.get(item.entry.path)
    if (attrs) item.entry.xattrs = attrs
    if (prefix) item.entry.path = item.entry.path === '/' ? prefix : `${prefix}${item.entry.path}`
  }
  return found
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
