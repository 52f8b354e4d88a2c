/**
 * The order of the files in a build's squashfs image: the files a boot reads, first and side by
 * side, so that a node's loop device reads them in a few long runs (one-MiB NFS READs, read ahead)
 * rather than one short read per file scattered over the image. Measured here on the bookworm
 * arm64 demo build (its 406 boot files read through a loop device on a disk with 4 MiB read-ahead,
 * as the initramfs sets the image's NFS mount): 156 reads and 46 MiB in mksquashfs's own order,
 * 74 reads and 21 MiB with those files first in path order, 49 reads and 20 MiB in read order.
 *
 * What a boot reads is the recipe's read set (`<id>.reads.json`, `pibake try --record-reads`,
 * src/try/reads.ts): the newest one recorded beside any of its builds on the NFS server, for the
 * files of one build are the files of the next. It is read back from that server, so it is checked
 * as any file from there is (rehearse/reads.ts), and a path only reaches mksquashfs when it names a
 * plain file of the tree with no symlink on the way and nothing mksquashfs's sort file cannot say.
 * Without a read set, the image keeps mksquashfs's order and the publish says how to record one.
 */
import { createHash } from 'node:crypto'
import { lstat, realpath } from 'node:fs/promises'
import { join } from 'node:path'
import type { HostFiles } from '../publish/files.ts'
import { identityName, parseReadSet, type ReadSet } from '../rehearse/reads.ts'
import { isBuildId } from '../site/names.ts'

/** mksquashfs's priorities are 16-bit: the first file read gets the highest, every listed one more than the rest's 0. */
const TOP_PRIORITY = 32_767
const READS_SUFFIX = '.reads.json'

export interface ImageOrder {
  /** The build whose boot was recorded. */
  readonly build: string
  /** Files put first, in the order they were read. */
  readonly files: number
  /** mksquashfs's sort file: `path priority` per line. */
  readonly sortText: string
  /** sha256 of the sort file: an image made in another order is another image. */
  readonly digest: string
}

export type FoundReadSet = { readonly set: ReadSet; readonly problem?: undefined } | { readonly set?: undefined; readonly problem?: string }

/** The newest read set among the recipe's builds folder `builds` (ids sort by time); a bad one is said, not used. */
export async function newestReadSet(files: HostFiles, builds: string, recipe: string): Promise<FoundReadSet> {
  const ids = (await files.list(builds))
    .filter((name) => name.endsWith(READS_SUFFIX))
    .map((name) => name.slice(0, -READS_SUFFIX.length))
    .filter((id) => isBuildId(id))
    .sort()
  const id = ids.at(-1)
  if (id === undefined) return {}
  const file = join(builds, `${id}${READS_SUFFIX}`)
  try {
    const text = await files.readText(file)
    if (text === undefined) return {}
    const set = parseReadSet(text, files.describe(file), id)
    if (set.recipe !== recipe) return { problem: `${files.describe(file)} is the read set of ${set.recipe}, not of ${recipe}` }
    return { set }
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) }
  }
}

/** The sort file that puts `set`'s files of the tree `root` first, in read order; undefined when none of them is in the tree. */
export async function imageOrder(set: ReadSet, root: string): Promise<ImageOrder | undefined> {
  const top = await realpath(root)
  const lines: string[] = []
  for (const { path } of set.files) {
    if (lines.length >= TOP_PRIORITY) break
    if (identityName(path) !== undefined || !sortable(path) || !(await plainFileIn(top, path))) continue
    lines.push(`${path} ${TOP_PRIORITY - lines.length}`)
  }
  if (!lines.length) return undefined
  const sortText = `${lines.join('\n')}\n`
  return { build: set.build, files: lines.length, sortText, digest: createHash('sha256').update(sortText).digest('hex') }
}

/** mksquashfs reads its sort file as whitespace-separated words and unescapes backslashes: plain printable names only. */
function sortable(path: string): boolean {
  return /^[\x21-\x7e]+$/.test(path) && !path.includes('\\')
}

/** `path` (checked relative, no `..`: rehearse/reads.ts) is a regular file of the tree reached through no symlink. */
async function plainFileIn(top: string, path: string): Promise<boolean> {
  const full = join(top, path)
  const [stat, real] = await Promise.all([lstat(full).catch(() => undefined), realpath(full).catch(() => undefined)])
  return stat?.isFile() === true && real === full
}
