/**
 * SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/): the one date a build
 * writes instead of the clock, so that the same recipe built twice gives the same tree. Every file a
 * build changes gets it as its modification time (see repro/clamp.ts); tarballs clamp to it.
 *
 * Where it comes from, first found wins:
 *  1. the `SOURCE_DATE_EPOCH` environment variable (seconds since 1970, UTC), as the specification
 *     asks of every build tool: a rebuilder sets it without editing the recipe;
 *  2. the recipe's `sourceDateEpoch` field;
 *  3. the image's own date: the newest modification time among the root folder `/`, its direct
 *     entries (`/etc`, `/usr`, `/var`, …) and `/var/lib/dpkg/status` (the last package change).
 *     An image builder touches them last (the root folder's entries change when anything is added at
 *     the top, /etc when any file in it is replaced, the dpkg status at every install), so this is
 *     about when the image was made; it is read with a few lstat calls, no walk of the tree.
 *
 * On a finished build tree (a published build), the image's date found this way is the build's own
 * SOURCE_DATE_EPOCH, unless that was set older than the image's date: the root folder carries it
 * (the top layer's, dated at the end of every layer: see repro/clamp.ts), every entry the build
 * changed carries it or an older time, and none of the image's own top entries is newer.
 */
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'

export interface Epoch {
  /** Seconds since 1970-01-01 00:00 UTC. */
  readonly seconds: number
  readonly from: 'environment' | 'recipe' | 'image'
}

/** What the SOURCE_DATE_EPOCH setting of a build reads. */
export interface EpochInputs {
  /** The recipe's `sourceDateEpoch` (seconds), when it sets one. */
  readonly recipe?: { readonly sourceDateEpoch?: number | undefined }
  /** The environment to read `SOURCE_DATE_EPOCH` from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/**
 * The setting as a stage's cache key sees it: the seconds when the environment or the recipe gives
 * them, or `'image'` when the image's date is used (the image is in every key already).
 */
export function epochSetting(inputs: EpochInputs = {}): number | 'image' {
  return givenEpoch(inputs)?.seconds ?? 'image'
}

/** SOURCE_DATE_EPOCH for a build from the tree `root` (the image's root, or a finished build's). */
export async function sourceDateEpoch(root: string, inputs: EpochInputs = {}): Promise<Epoch> {
  return givenEpoch(inputs) ?? { seconds: await imageDate(root), from: 'image' }
}

function givenEpoch({ recipe, env = process.env }: EpochInputs): Epoch | undefined {
  const text = env.SOURCE_DATE_EPOCH
  if (text !== undefined && text !== '') return { seconds: parseEpoch(text), from: 'environment' }
  if (recipe?.sourceDateEpoch !== undefined) return { seconds: recipe.sourceDateEpoch, from: 'recipe' }
  return undefined
}

/** The environment's SOURCE_DATE_EPOCH as seconds; a malformed value is an error (the specification asks tools to fail). */
export function parseEpoch(text: string): number {
  const seconds = /^\d{1,12}$/.test(text) ? Number(text) : Number.NaN
  if (Number.isSafeInteger(seconds)) return seconds
  throw new PibakeError(
    `SOURCE_DATE_EPOCH=${JSON.stringify(text)} is not a number of seconds since 1970`,
    'set it to a whole number, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct), or unset it to use the recipe\'s sourceDateEpoch or the image\'s date',
  )
}

/** The image's date (seconds): the newest mtime of `/`, its direct entries and the dpkg status file. */
export async function imageDate(root: string): Promise<number> {
  const names = await readdir(root).catch((error: unknown) => {
    throw new PibakeError(`cannot read the image's root ${root} for its date (${error instanceof Error ? error.message : String(error)})`, 'set SOURCE_DATE_EPOCH or the recipe\'s sourceDateEpoch')
  })
  const paths = [root, ...names.map((name) => join(root, name)), join(root, 'var/lib/dpkg/status')]
  let newest = 0
  for (const path of paths) {
    const stats = await lstat(path).catch(() => undefined)
    if (stats) newest = Math.max(newest, Math.floor(stats.mtimeMs / 1000))
  }
  return newest
}

/** A date as a person reads it, for messages: `2024-11-19 10:00:00 UTC`. */
export function formatEpoch(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')} UTC`
}
