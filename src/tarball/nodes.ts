/**
 * The device nodes and FIFOs of an archive being unpacked, made together by one process (a
 * process per node cost more than the rest of a root's entries together): kept until a hard link
 * needs one, or the unpack ends. A later entry of the same path replaces a node not yet made.
 */
import { chmodSync, lchownSync, utimesSync } from 'node:fs'
import { extractTar } from '../system/tar.ts'
import { fitsUstar, paxBlock, paxRecords } from './pax.ts'
import { encodeUstar, TYPEFLAGS } from './ustar.ts'

export interface PendingNode {
  /** The folder it is made in (the tree, or the split-off folder), and its path below it. */
  readonly base: string
  readonly path: string
  readonly type: 'character-device' | 'block-device' | 'fifo'
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly mtime: Date
  readonly devmajor: number
  readonly devminor: number
}

export class PendingNodes {
  /** By the entry's path in the tree. */
  readonly #nodes = new Map<string, PendingNode>()

  get size(): number {
    return this.#nodes.size
  }

  add(path: string, node: PendingNode): void {
    this.#nodes.set(path, node)
  }

  /** Forgets the node at `path` (a later entry replaces it); whether there was one. */
  drop(path: string): boolean {
    return this.#nodes.delete(path)
  }

  has(path: string): boolean {
    return this.#nodes.has(path)
  }

  /** Makes every pending node, one process per folder, then gives each its owner, mode and time. */
  async make(signal?: AbortSignal): Promise<void> {
    const nodes = [...this.#nodes.values()]
    this.#nodes.clear()
    const bases = new Map<string, PendingNode[]>()
    for (const node of nodes) bases.set(node.base, [...(bases.get(node.base) ?? []), node])
    for (const [base, list] of bases) await extractTar(base, archiveOf(list), signal)
    for (const node of nodes) {
      const host = `${node.base}/${node.path}`
      lchownSync(host, node.uid, node.gid)
      chmodSync(host, node.mode & 0o7777)
      utimesSync(host, node.mtime, node.mtime)
    }
  }
}

/** A tar archive of `nodes` alone: a ustar header each (after a PAX header for a long or non-ASCII name), then the end. */
function archiveOf(nodes: readonly PendingNode[]): Buffer {
  const blocks: Buffer[] = []
  for (const node of nodes) {
    if (!fitsUstar(node.path)) blocks.push(paxBlock(paxRecords({ path: node.path }), 0))
    const header = Buffer.alloc(512)
    const name = fitsUstar(node.path) ? node.path : 'node'
    encodeUstar({ name, typeflag: TYPEFLAGS[node.type]!, mode: node.mode & 0o777, uid: 0, gid: 0, size: 0, mtime: 0, linkname: '', devmajor: node.devmajor, devminor: node.devminor }, header, 0)
    blocks.push(header)
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}
