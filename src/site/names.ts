/**
 * The names that become paths and arguments on a site's hosts: a recipe's name (`<config>/pibake/
 * <name>.json`, `<nfs>/<name>/`) and a build's id (`<nfs>/<name>/builds/<id>/`). Whatever carries one
 * in from outside the recipe — a URL, a form field, a site record, a file on a remote host — is
 * checked here before it is joined into a path or passed to a program.
 */
import { PibakeError } from '../errors.ts'

/** Lower-case letters, digits and "-", not starting with "-", at most 63 characters (as recipes say). */
export const RECIPE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/

/** `20261125-174233-1a2b3c4d`: the UTC second it was published and the first 8 hex digits of its key. */
export const BUILD_ID = /^\d{8}-\d{6}-[0-9a-f]{8}$/

/** `.20261125-174233-1a2b3c4d.partial`: a build's tree while it is copied (resumed or removed by the next publish). */
export const PARTIAL_BUILD = new RegExp(`^\\.${BUILD_ID.source.slice(1, -1)}\\.partial$`)

export function isRecipeName(text: unknown): text is string {
  return typeof text === 'string' && RECIPE_NAME.test(text)
}

export function isBuildId(text: unknown): text is string {
  return typeof text === 'string' && BUILD_ID.test(text)
}

/** `text` as a recipe name, or an error naming where it came from. */
export function recipeName(text: unknown, from: string): string {
  if (isRecipeName(text)) return text
  throw new PibakeError(
    `${from}: ${JSON.stringify(String(text).slice(0, 80))} is not a recipe name (lower-case letters, digits and "-", not starting with "-", at most 63 characters)`,
    'name a recipe the site lists (pibake site)',
  )
}

/** `text` as a build id, or an error naming where it came from. */
export function buildId(text: unknown, from: string): string {
  if (isBuildId(text)) return text
  throw new PibakeError(
    `${from}: ${JSON.stringify(String(text).slice(0, 80))} is not a build id (like 20261125-174233-1a2b3c4d)`,
    'name a build the site lists (pibake site shows each recipe\'s builds)',
  )
}

/** `<id>.snapshot.json`, beside the build's tree and `<id>.json`: what the tree held when it was built. */
export function buildSnapshotName(id: string): string {
  return `${buildId(id, 'a build snapshot')}.snapshot.json`
}

/** `<id>.reads.json`: the build's root read set (`pibake try --record-reads`), for the storm's root phase. */
export function buildReadsName(id: string): string {
  return `${buildId(id, 'a build read set')}.reads.json`
}

/** `<id>.json.sig`: the SSH signature of the build's record `<id>.json`, when the target signs. */
export function buildSignatureName(id: string): string {
  return `${buildId(id, 'a build signature')}.json.sig`
}
