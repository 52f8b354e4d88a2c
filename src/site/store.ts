/** Reading and writing a site's records through the target's files. */
import { PibakeError } from '../errors.ts'
import type { HostFiles } from '../publish/files.ts'
import { HostPool } from '../publish/hosts.ts'
import type { Destination } from '../recipe/types.ts'
import { recipeName } from './names.ts'
import { recordFile, recordsDir, type SiteRecord } from './record.ts'
import { parseSiteRecord } from './record-schema.ts'

/** A site: where its records and server configuration live, and how to reach its files. */
export interface Site {
  /** The files of the host holding the configuration folder. */
  readonly files: HostFiles
  /** The folder holding `dnsmasq.conf`, `exports`, … and `pibake/<recipe>.json`. */
  readonly config: string
  /** The hosts of the recipes' trees (NFS and TFTP), reached through the same connections. */
  readonly hosts: HostPool
}

/** The site whose configuration is at `config` (close it with `site.hosts.close()`). */
export function openSite(config: Destination, hosts = new HostPool()): Site {
  return { files: hosts.get(config).files, config: config.path, hosts }
}

/** The files of the host a record's NFS or TFTP tree is on. */
export function treeFiles(site: Site, record: SiteRecord, tree: 'nfs' | 'tftp'): HostFiles {
  return site.hosts.get(record.where[tree]).files
}

/** Every recipe recorded at the site, by name. */
export async function readSite(site: Site): Promise<SiteRecord[]> {
  const dir = recordsDir(site.config)
  const names = (await site.files.list(dir)).filter((name) => name.endsWith('.json') && !name.startsWith('.')).sort()
  const records: SiteRecord[] = []
  for (const name of names) {
    const record = await readRecord(site, name.slice(0, -'.json'.length))
    if (record) records.push(record)
  }
  return records
}

/**
 * The record of `recipe`, checked field by field (see record-schema.ts): one that does not validate
 * whole is refused, never used in part. Undefined when the site has none.
 */
export async function readRecord(site: Site, recipe: string): Promise<SiteRecord | undefined> {
  const file = recordFile(site.config, recipeName(recipe, `a site record in ${site.files.describe(recordsDir(site.config))}`))
  const text = await site.files.readText(file)
  if (text === undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw damaged(site, file, [`it is not JSON (${(error as Error).message})`])
  }
  const parsed = parseSiteRecord(value, recipe)
  if ('problems' in parsed) throw damaged(site, file, parsed.problems)
  return parsed.record
}

/** Writes a record, after checking it is one `readRecord` accepts: pibake never leaves a record it would refuse. */
export async function writeRecord(site: Site, record: SiteRecord): Promise<void> {
  requireReadable(record)
  await site.files.writeAtomic(recordFile(site.config, record.recipe), `${JSON.stringify(record, null, 2)}\n`)
}

export async function removeRecord(site: Site, recipe: string): Promise<void> {
  await site.files.remove(recordFile(site.config, recipeName(recipe, 'the site record to remove')))
}

/** Throws, naming the fields, when `record` is not one pibake would read back. */
export function requireReadable(record: SiteRecord): void {
  const parsed = parseSiteRecord(record, record.recipe)
  if ('problems' in parsed) {
    throw new PibakeError(
      `the site record of ${JSON.stringify(record.recipe)} would not be readable: ${parsed.problems.join('; ')}`,
      'change that setting in the recipe (a site record holds only plain names, addresses and paths)',
    )
  }
}

function damaged(site: Site, file: string, problems: readonly string[]): PibakeError {
  return new PibakeError(
    `the site record ${site.files.describe(file)} is damaged: ${problems.join('; ')}`,
    `pibake reads only records it can vouch for, and this one was not written as pibake writes them: check who can write ${site.files.describe(recordsDir(site.config))}, then restore the file from a backup, or remove it and publish that recipe again (its builds stay on the NFS server)`,
  )
}
