/** Saving snapshots as JSON, reading them back, and loading a snapshot from wherever it comes from. */
import { randomBytes } from 'node:crypto'
import { open, readFile, rename, rm, stat } from 'node:fs/promises'
import { PibakeError } from '../errors.ts'
import { checkSnapshot } from './schema.ts'
import { takeSnapshot } from './take.ts'
import { comparePaths, type Snapshot, type SnapshotOptions } from './types.ts'

const READ_HINT = 'give a snapshot saved by pibake (writeSnapshot), or the directory to take one of'

/** Reads a saved snapshot; a file that is not one fails with a PibakeError that says why. */
export async function readSnapshot(file: string): Promise<Snapshot> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new PibakeError(`cannot read snapshot ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`, READ_HINT, { cause: error })
  })
  return parseSnapshot(text, file)
}

/** A saved snapshot's text, checked whole (`name` says where it came from in errors). */
export function parseSnapshot(text: string, name: string): Snapshot {
  const data = parseJson(text, name)
  const format = typeof data === 'object' && data !== null ? (data as Record<string, unknown>).format : undefined
  if (format !== 'pibake-snapshot') throw new PibakeError(`${name} is not a pibake snapshot (it has no "format": "pibake-snapshot")`, READ_HINT)
  const version = (data as Record<string, unknown>).version
  if (version !== 1) {
    throw new PibakeError(`${name} is a pibake snapshot of version ${JSON.stringify(version)}, and this pibake reads version 1`, 'take the snapshot again with this pibake')
  }
  const checked = checkSnapshot(data)
  if ('problems' in checked) {
    const list = checked.problems.slice(0, 10).map((p) => `  - ${p}`).join('\n')
    throw new PibakeError(`${name} is a damaged pibake snapshot:\n${list}`, 'take the snapshot again; saved snapshots are not meant to be edited by hand')
  }
  checked.snapshot.entries.sort((a, b) => comparePaths(a.path, b.path))
  return checked.snapshot
}

/**
 * Saves a snapshot as JSON, one entry per line (so two saved snapshots also compare as text),
 * written to a temporary file beside `file` and renamed over it.
 */
export async function writeSnapshot(snapshot: Snapshot, file: string): Promise<void> {
  const text = snapshotText(snapshot)
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeDurably(temporary, text)
    await rename(temporary, file)
  } catch (error) {
    await rm(temporary, { force: true })
    throw new PibakeError(`cannot write snapshot ${file}: ${(error as Error).message}`, 'check that its directory exists and is writable', { cause: error })
  }
}

/** The text `writeSnapshot` saves: one entry per line. */
export function snapshotText(snapshot: Snapshot): string {
  const { entries, ...header } = snapshot
  const lines = entries.map((entry) => JSON.stringify(entry)).join(',\n')
  return `${JSON.stringify(header).slice(0, -1)},"entries":[\n${lines}\n]}\n`
}

async function writeDurably(file: string, text: string): Promise<void> {
  const handle = await open(file, 'wx')
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * A snapshot of a directory (taken now), or of a saved snapshot (`.json`, read back).
 * `options` apply when a snapshot is taken.
 */
export async function loadSnapshotSource(pathOrFile: string, options: SnapshotOptions = {}): Promise<Snapshot> {
  const info = await stat(pathOrFile).catch((error: NodeJS.ErrnoException) => {
    throw new PibakeError(`cannot load a snapshot from ${pathOrFile}: ${error.code === 'ENOENT' ? 'it does not exist' : error.message}`, READ_HINT, { cause: error })
  })
  if (info.isDirectory()) return takeSnapshot(pathOrFile, options)
  if (pathOrFile.endsWith('.json')) return readSnapshot(pathOrFile)
  throw new PibakeError(`cannot load a snapshot from ${pathOrFile}: it is neither a directory nor a saved snapshot (.json)`, READ_HINT)
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new PibakeError(`${file} is not a pibake snapshot: it is not JSON (${(error as Error).message})`, READ_HINT, { cause: error })
  }
}
