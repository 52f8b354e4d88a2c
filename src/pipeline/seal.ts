/**
 * A layer's seal: what its trees held when it was finished, so that a cached layer that was changed,
 * truncated or removed since is found before anything is built on it or published from it.
 *
 * The seal records every entry's path, type, mode, owner, size, link target, device number, inode
 * and change time (ctime), and keeps their sha256. A change of content, mode, owner or extended
 * attributes moves the ctime, which no program can set back; removing or adding an entry changes the
 * list. Checking is one lstat per entry (no file is read), so a seal is checked at every reuse.
 */
import { createHash } from 'node:crypto'
import { readFile, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { writeDurable } from '../system/durable.ts'
import { walk } from '../system/walk.ts'

const SEAL = 'seal.json'

interface SealRecord {
  readonly trees: readonly string[]
  readonly entries: number
  readonly sha256: string
}

/** Seals the trees `trees` (folders of `dir`, e.g. `root` and `boot`) as they are now. */
export async function sealLayer(dir: string, trees: readonly string[]): Promise<void> {
  const { entries, sha256 } = await digest(dir, trees)
  const record: SealRecord = { trees, entries, sha256 }
  await writeDurable(join(dir, SEAL), `${JSON.stringify(record)}\n`)
}

/** Why the layer at `dir` is not as it was sealed (or has no seal), or undefined when it is. */
export async function checkSeal(dir: string): Promise<string | undefined> {
  const record = await readFile(join(dir, SEAL), 'utf8').then((text) => JSON.parse(text) as SealRecord, () => undefined)
  if (!record) return 'it is missing or was never finished'
  const now = await digest(dir, record.trees).catch((error: unknown) => error instanceof Error ? error.message : String(error))
  if (typeof now === 'string') return `it cannot be read (${now})`
  if (now.entries !== record.entries) return `it held ${record.entries} entries and holds ${now.entries}`
  if (now.sha256 !== record.sha256) return 'a file in it was changed since it was built'
  return undefined
}

async function digest(dir: string, trees: readonly string[]): Promise<{ entries: number; sha256: string }> {
  const hash = createHash('sha256')
  let entries = 0
  for (const tree of trees) {
    hash.update(`tree ${tree}\n`)
    for await (const { path, full, stats } of walk(join(dir, tree))) {
      const target = stats.isSymbolicLink() ? await readlink(full) : ''
      hash.update(`${path}\0${stats.mode} ${stats.uid} ${stats.gid} ${stats.size} ${stats.rdev} ${stats.ino} ${stats.nlink} ${stats.ctimeMs} ${stats.mtimeMs}\0${target}\n`)
      entries++
    }
  }
  return { entries, sha256: hash.digest('hex') }
}
