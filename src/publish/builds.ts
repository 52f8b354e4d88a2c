/**
 * Published builds of a recipe on an NFS target: `<nfs>/<recipe>/builds/<id>/` (the root tree),
 * `<id>.json` beside it (what it was built from), and `current` pointing at the live one.
 */
import { join } from 'node:path'
import type { HostFiles } from './files.ts'

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

/** The live build's record, if `current` points at a complete build. */
export async function currentBuild(files: HostFiles, nfsPath: string, recipe: string): Promise<BuildRecord | undefined> {
  const link = await files.readlink(join(recipeDir(nfsPath, recipe), 'current'))
  if (!link) return undefined
  const text = await files.readText(join(recipeDir(nfsPath, recipe), 'builds', `${link.split('/').pop()}.json`))
  try {
    return text === undefined ? undefined : (JSON.parse(text) as BuildRecord)
  } catch {
    return undefined
  }
}
