/** Reading and writing a site's records through the target's files. */
import { PibakeError } from '../errors.ts'
import type { HostFiles } from '../publish/files.ts'
import { HostPool } from '../publish/hosts.ts'
import type { Destination } from '../recipe/types.ts'
import { RECORD_FORMAT, recordFile, recordsDir, type SiteRecord } from './record.ts'

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

export async function readRecord(site: Site, recipe: string): Promise<SiteRecord | undefined> {
  const file = recordFile(site.config, recipe)
  const text = await site.files.readText(file)
  if (text === undefined) return undefined
  let record: unknown
  try {
    record = JSON.parse(text)
  } catch (error) {
    throw damaged(site, file, `it is not JSON (${(error as Error).message})`)
  }
  if (!isRecord(record)) throw damaged(site, file, `it is not a pibake site record of format ${RECORD_FORMAT}`)
  if (record.recipe !== recipe) throw damaged(site, file, `it records the recipe "${record.recipe}"`)
  return record
}

export async function writeRecord(site: Site, record: SiteRecord): Promise<void> {
  await site.files.writeAtomic(recordFile(site.config, record.recipe), `${JSON.stringify(record, null, 2)}\n`)
}

export async function removeRecord(site: Site, recipe: string): Promise<void> {
  await site.files.remove(recordFile(site.config, recipe))
}

function isRecord(value: unknown): value is SiteRecord {
  if (typeof value !== 'object' || value === null) return false
  const r = value as Record<string, unknown>
  return r.format === RECORD_FORMAT && typeof r.recipe === 'string' && Array.isArray(r.nodes) && Array.isArray(r.builds) && typeof r.netboot === 'object' && typeof r.where === 'object'
}

function damaged(site: Site, file: string, why: string): PibakeError {
  return new PibakeError(
    `the site record ${site.files.describe(file)} is damaged: ${why}`,
    'restore it from a backup, or remove it and publish that recipe again (its builds stay on the NFS server)',
  )
}
