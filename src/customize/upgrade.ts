/**
 * `--upgrade`: `apt-get dist-upgrade` after the recipe's steps, so that a scheduled build picks up
 * security fixes, without re-running anything when there is nothing new.
 *
 * The upgrade always fetches fresh package lists first. Right after, it records each of the image's
 * apt archives as apt just fetched it: the URL of its `InRelease` file (or `Release`) and that file's
 * sha256, in `archives.json` beside the stage's layer. An `InRelease` file lists the hash of every
 * package index of its archive, so while none of them changed, an upgrade would install nothing new:
 * the next plan fetches those few small files again and keeps the cached layer when all are the same
 * (`archivesChanged`), and re-runs the stage (the recipe's steps, then the upgrade) when one differs.
 */
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { withApt } from './apt.ts'
import type { StepContext } from './context.ts'

/** One apt archive, as the upgrade saw it. */
export interface ArchiveState {
  /** The archive's `InRelease` (or `Release`) file. */
  readonly url: string
  /** That file's sha256 as apt fetched it; null when apt has no copy (the archive could not be fetched). */
  readonly sha256: string | null
}

const RECORD = 'archives.json'
const FETCH_TIMEOUT_MS = 60_000

/** Refreshes the package lists, records the archives, and runs `apt-get dist-upgrade` in the image. */
export async function upgradeImage(ctx: StepContext, stageDir: string): Promise<readonly ArchiveState[]> {
  let archives: readonly ArchiveState[] = []
  await withApt(ctx, async (apt, cache) => {
    // Any archive that cannot be fetched fails the upgrade (apt-get would only warn and use old lists).
    await apt(['update', '--error-on=any'])
    // Prints, without fetching anything, each file `update` fetches and the name apt keeps it under.
    const { stdout } = await apt(['update', '--print-uris'])
    archives = await archiveStates(stdout, cache.lists)
    await apt(['-o', 'APT::Install-Recommends=false', 'dist-upgrade'])
  })
  await writeFile(join(stageDir, RECORD), `${JSON.stringify({ archives }, null, 2)}\n`)
  return archives
}

/** Each archive of `apt-get update --print-uris` (`'<url>/InRelease' <file name in the lists> <size>`) with its file's hash. */
export async function archiveStates(printUris: string, listsDir: string): Promise<ArchiveState[]> {
  const states: ArchiveState[] = []
  for (const match of printUris.matchAll(/^'([^']+\/InRelease)' (\S+)/gm)) {
    const [, url = '', name = ''] = match
    // An archive without InRelease is fetched as Release (+ Release.gpg), kept under that name.
    const inRelease = await fileSha256(join(listsDir, name))
    const release = inRelease ? undefined : await fileSha256(join(listsDir, name.replace(/InRelease$/, 'Release')))
    states.push(inRelease ? { url, sha256: inRelease } : release ? { url: url.replace(/InRelease$/, 'Release'), sha256: release } : { url, sha256: null })
  }
  return states
}

/**
 * Why the layer in `stageDir` is out of date for an upgrade, or undefined when every archive it was
 * upgraded from is unchanged. An archive that cannot be checked counts as changed: the stage then
 * runs and its own `apt-get update` says what is wrong.
 */
export async function archivesChanged(stageDir: string, signal: AbortSignal): Promise<string | undefined> {
  const record = await readFile(join(stageDir, RECORD), 'utf8').then((text) => JSON.parse(text) as { archives: ArchiveState[] }, () => undefined)
  if (!record) return 'it was not made with --upgrade'
  if (!record.archives.length) return 'the image has no apt archives on record'
  for (const { url, sha256 } of record.archives) {
    if (sha256 === null) return `apt could not fetch ${url} last time`
    if (!/^https?:\/\//.test(url)) return `${url} cannot be checked without apt`
    let now: string
    try {
      const response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]) })
      if (!response.ok) return `${url} answered HTTP ${response.status}`
      now = createHash('sha256').update(Buffer.from(await response.arrayBuffer())).digest('hex')
    } catch (error) {
      signal.throwIfAborted()
      return `${url} could not be checked (${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)})`
    }
    if (now !== sha256) return `the archive ${url.replace(/\/(In)?Release$/, '')} changed`
  }
  return undefined
}

async function fileSha256(file: string): Promise<string | undefined> {
  const content = await readFile(file).catch(() => undefined)
  return content && createHash('sha256').update(content).digest('hex')
}
