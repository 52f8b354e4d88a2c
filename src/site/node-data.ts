/**
 * The nodes' persisted folders (`netboot.persist`) at a site: `<nfs>/_persist/<mac>/`, one folder
 * per node, the node's and not a recipe's or a build's. Nothing removes one unless asked with
 * `--purge-node-data`: `unpublish` then removes its recipe's nodes' folders (unless another recipe
 * of the site lists the node), and `gc` the folders of nodes no recipe of the site lists any more.
 */
import type { HostFiles } from '../publish/files.ts'
import { isPersistNodeName, persistNodeDir, persistRoot } from '../netboot/persist.ts'
import { macDir } from '../netboot/layout.ts'
import type { SiteRecord } from './record.ts'
import { treeFiles, type Site } from './store.ts'

/** Removes the persisted folders of `macs` under the NFS folder `nfs`; returns the MAC folders that were there. */
export async function removeNodeData(files: HostFiles, nfs: string, macs: readonly string[]): Promise<string[]> {
  const there = new Set(await files.list(persistRoot(nfs)))
  const removed: string[] = []
  for (const mac of macs) {
    if (!there.has(macDir(mac))) continue
    await files.remove(persistNodeDir(nfs, mac))
    removed.push(macDir(mac))
  }
  return removed
}

/** The nodes of `record` that no record in `others` lists: their folders are no recipe's any more. */
export function unlistedNodes(record: SiteRecord, others: readonly SiteRecord[]): string[] {
  const listed = new Set(others.flatMap((r) => r.nodes.map((n) => n.mac)))
  return record.nodes.map((n) => n.mac).filter((mac) => !listed.has(mac))
}

export interface NodeDataResult {
  /** `<nfs>/_persist/<mac>` folders removed (or that would be, with `dryRun`), as the host names them. */
  readonly removed: readonly string[]
  /** Folders kept: of a node a recipe lists, by MAC folder name. */
  readonly kept: readonly string[]
  /** Names in `_persist/` that are not a node's folder as pibake names it: never touched. */
  readonly strange: readonly string[]
}

/**
 * The folders under each NFS folder the site's records use whose MAC no record lists: removed
 * (unless `dryRun`). A site without records names no NFS folder, and nothing is done.
 */
export async function collectNodeData(site: Site, records: readonly SiteRecord[], dryRun: boolean): Promise<NodeDataResult> {
  const listed = new Set(records.flatMap((r) => r.nodes.map((n) => macDir(n.mac))))
  const result = { removed: [] as string[], kept: [] as string[], strange: [] as string[] }
  const seen = new Set<string>()
  for (const record of records) {
    const files = treeFiles(site, record, 'nfs')
    const nfs = record.where.nfs.path
    if (seen.has(files.describe(nfs))) continue
    seen.add(files.describe(nfs))
    for (const name of (await files.list(persistRoot(nfs))).sort()) {
      if (!isPersistNodeName(name)) result.strange.push(files.describe(`${persistRoot(nfs)}/${name}`))
      else if (listed.has(name)) result.kept.push(name)
      else {
        if (!dryRun) await files.remove(persistNodeDir(nfs, name))
        result.removed.push(files.describe(persistNodeDir(nfs, name)))
      }
    }
  }
  return result
}
