/**
 * Cache keys are manifests: the JSON of every input a stage reads plus its parent's key, stored
 * beside the stage's output. When a cache is rejected, the manifests say which input changed.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeDurable } from '../system/durable.ts'

export interface Manifest {
  readonly stage: string
  readonly version: number
  readonly parent: string
  readonly inputs: Record<string, unknown>
}

export function manifestKey(manifest: Manifest): string {
  return createHash('sha256').update(stableJson(manifest)).digest('hex')
}

/** JSON with object keys sorted, so equal inputs always give equal text. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

export async function readManifest(dir: string): Promise<StoredManifest | undefined> {
  const file = join(dir, 'manifest.json')
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const stored = JSON.parse(text) as StoredManifest
    if (typeof stored.key === 'string' && typeof stored.stage === 'string' && stored.inputs && typeof stored.inputs === 'object') return stored
  } catch {
    // Said below: the stage runs again, and the plan says why.
  }
  // Matches no key: the stage's output is never reused on the word of a manifest that can't be read.
  return { stage: '', version: -1, parent: '', inputs: {}, key: '', unreadable: `its cache record ${file} is damaged (not a manifest)` }
}

/** A manifest as stored, with its key; `unreadable` when the file was there but held no manifest. */
export type StoredManifest = Manifest & { readonly key: string; readonly unreadable?: string }

/** Written last, after the stage's output is complete, durably: its presence marks the output as good. */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const file = join(dir, 'manifest.json')
  await writeDurable(file, `${JSON.stringify({ ...manifest, key: manifestKey(manifest) }, null, 2)}\n`)
}

/** Says, in a few words, what differs between the stored manifest and the new one. */
export function whatChanged(before: StoredManifest | Manifest | undefined, after: Manifest): string {
  if (!before) return 'not built yet'
  if ('unreadable' in before && before.unreadable) return before.unreadable
  if (before.version !== after.version) return `pibake's ${after.stage} stage changed (version ${before.version} → ${after.version})`
  const changed = changedPaths(before.inputs, after.inputs, '')
  if (changed.length) return `changed: ${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ` and ${changed.length - 3} more` : ''}`
  if (before.parent !== after.parent) return 'an earlier stage changed'
  return 'unchanged'
}

function changedPaths(a: unknown, b: unknown, path: string): string[] {
  if (stableJson(a) === stableJson(b)) return []
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((item, index) => changedPaths(item, b[index], `${path}[${index}]`))
  }
  const isObject = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === 'object' && !Array.isArray(v)
  if (!isObject(a) || !isObject(b)) return [path || '(inputs)']
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
  return keys.flatMap((key) => changedPaths(a[key], b[key], path ? `${path}.${key}` : key))
}
