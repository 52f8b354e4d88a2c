/**
 * Writes a tree as a deterministic tar stream: `./` names in path order, owners by number, times
 * clamped, hard links as links to the first path of their group, xattrs in PAX headers (pax.ts).
 * The same tree gives the same bytes: nothing of the machine, the walk's order or the clock is in it.
 */
import { createReadStream, readFileSync } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { pack, type Header, type Pack } from 'tar-stream'
import { PibakeError } from '../errors.ts'
import { readTreeXattrs } from '../snapshot/xattrs.ts'
import { walkTree, type Found } from '../snapshot/walk.ts'
import { comparePaths, type Entry } from '../snapshot/types.ts'
import { fitsUstar, idFitsUstar, paxBlock, paxRecords, type PaxFields } from './pax.ts'

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

/** Files up to this size are read in one call (fewer, larger writes); larger ones are streamed. */
const SMALL_FILE = 64 << 20

/** What the tar stream holds before its reader must catch up: tar-stream's default (16 KiB) makes a round trip per few entries. */
const BUFFERED = 4 << 20

/** The tar stream of `root` (and the graft): read it to the end, or destroy it. */
export function packTree(root: string, options: PackOptions): Pack {
  const stream = pack({ highWaterMark: BUFFERED })
  write(stream, root, options).then(
    () => stream.finalize(),
    (error: unknown) => stream.destroy(error as Error),
  )
  return stream
}

async function write(stream: Pack, root: string, options: PackOptions): Promise<void> {
  for (const item of await collect(root, options)) {
    options.signal?.throwIfAborted()
    await writeEntry(stream, item, options.clamp)
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

/** S_IF* bits, so that a mode of 0 is not taken for "none given" (tar-stream would write 0644). */
const TYPE_BITS: Record<string, number> = { file: 0o100000, directory: 0o040000, symlink: 0o120000, 'character-device': 0o020000, 'block-device': 0o060000, fifo: 0o010000, link: 0o100000 }

async function writeEntry(stream: Pack, item: Item, clamp: number): Promise<void> {
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
  // tar-stream's own PAX records are UTF-8 text: ours go first, byte for byte, and its header then fits ustar.
  if (records.length) stream.push(paxBlock(records, mtime))
  const header = {
    name: pax.path === undefined ? name : ustarStandIn(name),
    type,
    mode: TYPE_BITS[type]! | entry.mode,
    uid: pax.uid === undefined ? entry.uid : 0,
    gid: pax.gid === undefined ? entry.gid : 0,
    mtime: new Date(Math.max(0, mtime) * 1000),
    size: type === 'file' ? (entry.size ?? 0) : 0,
    linkname: pax.linkpath === undefined ? linkname : ustarStandIn(linkname),
    devmajor: entry.rdev?.major ?? 0,
    devminor: entry.rdev?.minor ?? 0,
  }
  if (type !== 'file') return addEntry(stream, header)
  if (header.size <= SMALL_FILE) return addEntry(stream, header, readFileSync(item.absolute))
  await new Promise<void>((resolve, reject) => {
    const sink = stream.entry(header, (error) => (error ? reject(error) : resolve()))
    pipeline(createReadStream(item.absolute, { highWaterMark: 1 << 20 }), sink as unknown as NodeJS.WritableStream).catch(reject)
  })
}

function addEntry(stream: Pack, header: Parameters<Pack['entry']>[0], body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null) => (error ? reject(error) : resolve())
    if (body) stream.entry(header, body, done)
    else stream.entry(header, done)
  })
}

/** What the ustar header says where the PAX header gives the real name: printable, at most 100 bytes. */
function ustarStandIn(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '_').slice(-100)
}

function hexValues(xattrs: Record<string, string>): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(xattrs).map(([name, hex]) => [name, Buffer.from(hex, 'hex')]))
}
