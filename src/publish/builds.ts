/**
 * Published builds of a recipe on an NFS target: `<nfs>/<recipe>/builds/<id>/` (the root tree),
 * `<id>.json` beside it (what it was built from), and `current` pointing at the live one.
 */
import { readFile, readdir, readlink } from 'node:fs/promises'
import { join } from 'node:path'

export interface BuildRecord {
  readonly id: string
  /** The publish stage's cache key: equal keys mean equal content. */
  readonly key: string
  readonly recipe: string
  readonly image: { readonly path: string; readonly sha256: string }
  readonly created: string
}

/** `20261125-174233-1a2b3c4d`: sorts by time, and names the content it holds. */
export function newBuildId(key: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  return `${stamp}-${key.slice(0, 8)}`
}

export function recipeDir(nfsPath: string, recipe: string): string {
  return join(nfsPath, recipe)
}

export async function currentBuild(nfsPath: string, recipe: string): Promise<BuildRecord | undefined> {
  const link = await readlink(join(recipeDir(nfsPath, recipe), 'current')).catch(() => undefined)
  if (!link) return undefined
  return readRecord(nfsPath, recipe, link.split('/').pop()!)
}

export async function readRecord(nfsPath: string, recipe: string, id: string): Promise<BuildRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(recipeDir(nfsPath, recipe), 'builds', `${id}.json`), 'utf8')) as BuildRecord
  } catch {
    return undefined
  }
}

/** Every complete build (one with a record), oldest first. */
export async function listBuilds(nfsPath: string, recipe: string): Promise<BuildRecord[]> {
  const names = await readdir(join(recipeDir(nfsPath, recipe), 'builds')).catch(() => [] as string[])
  const records: BuildRecord[] = []
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const record = await readRecord(nfsPath, recipe, name.slice(0, -'.json'.length))
    if (record) records.push(record)
  }
  // Two builds can share a second (and so an id prefix): the record's time orders them.
  return records.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id))
}
