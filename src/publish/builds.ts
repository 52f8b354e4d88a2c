/**
 * Published builds of a recipe on an NFS target: `<nfs>/<recipe>/builds/<id>/` (the root tree),
 * `<id>.json` beside it (what it was built from), and `current` pointing at the live one.
 */
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import { isBuildId } from '../site/names.ts'
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

/**
 * The live build's record, if `current` points at a complete build. The link and the record are
 * read from the NFS host, and the id they name becomes paths of this publish (the build its tree is
 * linked to, the folder the nodes' boot links point into): both must name one build, by a build id.
 */
export async function currentBuild(files: HostFiles, nfsPath: string, recipe: string): Promise<BuildRecord | undefined> {
  const current = join(recipeDir(nfsPath, recipe), 'current')
  const link = await files.readlink(current)
  if (!link) return undefined
  const id = link.startsWith('builds/') ? link.slice('builds/'.length) : undefined
  if (!isBuildId(id)) throw notPibakes(files, current, `it points at ${JSON.stringify(link)}, not at builds/<build id>`)
  const file = join(recipeDir(nfsPath, recipe), 'builds', `${id}.json`)
  const text = await files.readText(file)
  let record: Partial<BuildRecord>
  try {
    if (text === undefined) return undefined
    const value = JSON.parse(text) as unknown
    record = typeof value === 'object' && value !== null ? value : {}
  } catch {
    return undefined
  }
  if (record.id !== id) throw notPibakes(files, file, `its id is ${JSON.stringify(record.id)}, not the build ${id} that current points at`)
  if (typeof record.key !== 'string') throw notPibakes(files, file, 'it has no key')
  return record as BuildRecord
}

function notPibakes(files: HostFiles, path: string, why: string): PibakeError {
  return new PibakeError(
    `${files.describe(path)} is not as pibake writes it: ${why}`,
    'check who can write the NFS tree; then point current at a build that is there (pibake rollback --to ID), or remove the link and publish again',
  )
}
