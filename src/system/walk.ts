/** A directory tree walked in a stable order (parents before children, names sorted), never following symlinks. */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat, readdir, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Stats } from 'node:fs'

export interface WalkEntry {
  /** Path relative to the walked directory, `/`-separated, no leading slash. */
  readonly path: string
  readonly full: string
  readonly stats: Stats
}

export async function* walk(dir: string, prefix = ''): AsyncGenerator<WalkEntry> {
  const names = (await readdir(join(dir, prefix))).sort()
  for (const name of names) {
    const path = prefix ? `${prefix}/${name}` : name
    const full = join(dir, path)
    const stats = await lstat(full)
    yield { path, full, stats }
    if (stats.isDirectory()) yield* walk(dir, path)
  }
}

/**
 * What a tree holds, for cache keys: each entry's type, permission bits and content (hash or link
 * target). Owners and times are left out: they are not what an overlay means.
 */
export async function treeManifest(dir: string): Promise<Record<string, string>> {
  const manifest: Record<string, string> = {}
  for await (const entry of walk(dir)) {
    const mode = (entry.stats.mode & 0o7777).toString(8)
    if (entry.stats.isDirectory()) manifest[entry.path] = `dir ${mode}`
    else if (entry.stats.isSymbolicLink()) manifest[entry.path] = `link ${await readlink(entry.full)}`
    else if (entry.stats.isFile()) manifest[entry.path] = `file ${mode} ${await sha256File(entry.full)}`
    else manifest[entry.path] = `other ${entry.stats.mode.toString(8)}`
  }
  return manifest
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
