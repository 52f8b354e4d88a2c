/**
 * A build's root read set: the files a real boot of the build reads from its NFS server, in the
 * order the server first read them, until the node is up (recorded once from a QEMU boot by
 * `pibake try --record-reads`, src/try/reads.ts). Kept beside the build as `<id>.reads.json` and
 * collected with it; the storm's root phase (root-phase.ts) reads the same files over NFS as each
 * simulated node.
 *
 * Paths are relative to the build's tree; the node's identity folder (`<recipe>/nodes/<mac>/`,
 * which every node mounts on its own) is written `nodes/<mac>/<name>`, the literal `<mac>` standing
 * for each node's own. The file is read back from an NFS server's disk: every path is checked to
 * stay inside the build (or the node's identity folder) before anything is read.
 */
import { existsSync } from 'node:fs'
import { readFile, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import type { Recipe } from '../recipe/types.ts'
import { buildReadsName, isBuildId } from '../site/names.ts'

export const READS_VERSION = 1
/** How the read set writes a file of the node's identity folder. */
export const IDENTITY_PREFIX = 'nodes/<mac>/'
const MAX_FILES = 200_000
const MAX_SIZE = 2 ** 40

export interface ReadEntry {
  /** Relative to the build's tree, or `nodes/<mac>/<name>` for the node's identity folder. */
  readonly path: string
  /** The file's size when it was recorded: the bytes a node reads. */
  readonly size: number
}

export interface ReadSet {
  readonly version: typeof READS_VERSION
  readonly build: string
  readonly recipe: string
  /** What the recording waited for, e.g. `ssh answered` or `multi-user: running`. */
  readonly until: string
  readonly seconds: number
  readonly files: readonly ReadEntry[]
}

/** `<id>.reads.json`, beside the build's tree and `<id>.json` (gc collects it with them). */
export const readsFileName = buildReadsName

/** Whether `path` is a file of the node's identity folder (then its name, after `nodes/<mac>/`). */
export function identityName(path: string): string | undefined {
  return path.startsWith(IDENTITY_PREFIX) ? path.slice(IDENTITY_PREFIX.length) : undefined
}

/** A read set from a file, checked; `build` (when given) must be the build it names. */
export async function loadReadSet(file: string, build?: string): Promise<ReadSet> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new PibakeError(`cannot read the read set ${file}: ${error instanceof Error ? error.message : String(error)}`, 'record it with pibake try <recipe> --record-reads')
  }
  return parseReadSet(text, file, build)
}

export function parseReadSet(text: string, from: string, build?: string): ReadSet {
  const bad = (why: string) => new PibakeError(`${from} is not a read set pibake writes: ${why}`, 'record it again with pibake try <recipe> --record-reads (it replaces the file)')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw bad(`not JSON (${error instanceof Error ? error.message : String(error)})`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('not a JSON object')
  const record = value as Record<string, unknown>
  if (record.version !== READS_VERSION) throw bad(`version ${JSON.stringify(record.version)}, not ${READS_VERSION}`)
  if (!isBuildId(record.build)) throw bad(`its build ${JSON.stringify(String(record.build).slice(0, 80))} is not a build id`)
  if (build !== undefined && record.build !== build) throw bad(`it is the read set of build ${record.build}, not of ${build}`)
  if (typeof record.recipe !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(record.recipe)) throw bad('its recipe is not a recipe name')
  if (typeof record.until !== 'string' || record.until.length > 200) throw bad('"until" is not a short text')
  if (typeof record.seconds !== 'number' || !(record.seconds >= 0)) throw bad('"seconds" is not a number of seconds')
  if (!Array.isArray(record.files)) throw bad('"files" is not a list')
  if (record.files.length > MAX_FILES) throw bad(`it lists ${record.files.length} files, more than ${MAX_FILES}`)
  const files = record.files.map((entry: unknown, index: number): ReadEntry => {
    if (typeof entry !== 'object' || entry === null) throw bad(`files[${index}] is not an object`)
    const { path, size } = entry as Record<string, unknown>
    const why = typeof path === 'string' ? unsafePath(path) : 'it is not a string'
    if (why) throw bad(`files[${index}].path ${JSON.stringify(String(path).slice(0, 120))}: ${why}`)
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_SIZE) throw bad(`files[${index}].size is not a size in bytes`)
    return { path: path as string, size }
  })
  return { version: READS_VERSION, build: record.build, recipe: record.recipe, until: record.until, seconds: record.seconds, files }
}

/** Why `path` could leave the build (or the node's identity folder), or undefined when it cannot. */
export function unsafePath(path: string): string | undefined {
  if (!path.length || path.length > 4096) return 'empty or longer than 4096 characters'
  if (path.includes('\0')) return 'it holds a NUL'
  if (path.startsWith('/')) return 'it is absolute: paths are relative to the build'
  const parts = path.split('/')
  if (parts.some((part) => part === '' || part === '.' || part === '..')) return 'it has an empty, "." or ".." part: it could leave the build'
  if (path.includes('<') || path.includes('>')) {
    const name = identityName(path)
    if (name === undefined || name.includes('<') || name.includes('>')) return 'only nodes/<mac>/… may hold "<" or ">"'
  }
  return undefined
}

/**
 * The read sets of the recipes' live builds, where their NFS tree is on this machine (the first
 * publish target's); `missing` says, per recipe, why it has none.
 */
export async function liveReadSets(recipes: readonly Recipe[]): Promise<{ sets: ReadSet[]; missing: string[] }> {
  const sets: ReadSet[] = []
  const missing: string[] = []
  for (const recipe of recipes) {
    const nfs = recipe.publish[0]?.nfs
    if (nfs?.kind !== 'local') {
      missing.push(`${recipe.name}: its NFS tree is not on this machine`)
      continue
    }
    const builds = join(nfs.path, recipe.name, 'builds')
    const link = await readlink(join(nfs.path, recipe.name, 'current')).catch(() => undefined)
    const id = link?.replace(/^builds\//, '')
    if (!isBuildId(id)) {
      missing.push(`${recipe.name}: no live build`)
      continue
    }
    const file = join(builds, readsFileName(id))
    if (existsSync(file)) sets.push(await loadReadSet(file, id))
    else missing.push(`${recipe.name}: no read set recorded for build ${id} (pibake try ${recipe.file} --record-reads)`)
  }
  return { sets, missing }
}
