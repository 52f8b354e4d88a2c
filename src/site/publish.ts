/**
 * The site's part of publishing a recipe: before anything is copied, the recipe is checked against
 * every other recipe of the site; after its trees are in place, its record is updated, the server
 * configuration re-rendered from all records, nodes the recipe gave up or handed over are let go,
 * and builds no node can be running any more are removed.
 */
import { join } from 'node:path'
import { SiteConflictError } from '../errors.ts'
import { macDir } from '../netboot/layout.ts'
import type { PublishTarget, Recipe } from '../recipe/types.ts'
import { removeBuilds } from './ops.ts'
import { nodeLink, parseNodeLink, recipeRoot } from './paths.ts'
import { recordFor, treePaths, withLive, type BootLoadRecord, type SiteRecord } from './record.ts'
import { writeSiteConfig, type NfsMirror, type SiteConfigFile } from './render.ts'
import { planRetention, type Kept } from './retention.ts'
import { siteProblems } from './check.ts'
import { placeOnTier, withServers } from './tier.ts'
import { readSite, requireReadable, treeFiles, writeRecord, type Site } from './store.ts'


export interface SitePlan {
  readonly site: Site
  readonly records: readonly SiteRecord[]
  readonly candidate: SiteRecord
  /** Nodes this publish takes from other recipes (`take`), by recipe. */
  readonly taken: ReadonlyMap<string, ReadonlySet<string>>
}

/**
 * Reads the site and checks the recipe against it; throws SiteConflictError (nothing changed) when a
 * node is in another recipe (unless `take`) or the settings disagree.
 */
export async function planSite(site: Site, recipe: Recipe, target: PublishTarget, take: boolean, now = new Date()): Promise<SitePlan> {
  const records = await readSite(site)
  const previous = records.find((r) => r.recipe === recipe.name)
  const where = { nfs: target.nfs, tftp: target.tftp, ...(target.nfsTier ? { nfsTier: target.nfsTier } : {}) }
  const candidate = placeOnTier(recordFor(recipe, where, target.keep, previous, now), recipe, records)
  // Before anything is copied: a recipe whose record this site could not read back is refused now.
  requireReadable(candidate)
  const problems = siteProblems(candidate, records)
  const blocking = problems.filter((p) => !(take && p.mac))
  if (blocking.length) {
    const nodeClash = blocking.some((p) => p.mac)
    throw new SiteConflictError(
      site.files.describe(site.config),
      blocking.map((p) => p.message),
      nodeClash
        ? 'a node belongs to one recipe of a site: remove it from one of them, or move it to this one with pibake build --take'
        : 'one boot server serves every recipe of a site: give this recipe the same settings, or publish it to another target',
    )
  }
  const taken = new Map<string, Set<string>>()
  for (const problem of problems) if (problem.mac) taken.set(problem.other, (taken.get(problem.other) ?? new Set()).add(problem.mac))
  return { site, records, candidate, taken }
}

export interface SitePublished {
  readonly configChanged: readonly SiteConfigFile[]
  readonly removed: readonly Kept[]
  readonly kept: readonly Kept[]
  /** Host names of nodes taken from other recipes or dropped from this one. */
  readonly released: readonly string[]
}

/** Records build `id` as live, lets go of nodes, re-renders the server configuration, applies retention. */
export async function recordPublish(plan: SitePlan, id: string, bytes: number | undefined, mirror?: NfsMirror, now = new Date(), servers?: readonly string[], boot?: BootLoadRecord): Promise<SitePublished> {
  const { site, candidate } = plan
  const released: string[] = []
  const others: SiteRecord[] = []
  for (const other of plan.records.filter((r) => r.recipe !== candidate.recipe)) {
    const macs = plan.taken.get(other.recipe)
    if (!macs) {
      others.push(other)
      continue
    }
    const kept = { ...other, nodes: other.nodes.filter((n) => !macs.has(n.mac)), updated: now.toISOString() }
    await writeRecord(site, kept)
    released.push(...(await releaseNodes(site, other, [...macs])))
    others.push(kept)
  }
  const previous = plan.records.find((r) => r.recipe === candidate.recipe)
  const mine = new Set(candidate.nodes.map((n) => n.mac))
  const dropped = previous?.nodes.filter((n) => !mine.has(n.mac)).map((n) => n.mac) ?? []
  let record = withServers(withLive(candidate, id, now, bytes, boot), id, servers)
  await writeRecord(site, record)
  released.push(...(await releaseNodes(site, candidate, dropped)))
  const configChanged = await writeSiteConfig(site, [...others, record], mirror)
  const retention = planRetention(record, record.keep, now)
  if (retention.remove.length) record = await removeBuilds(site, record, retention.remove.map((b) => b.id))
  return { configChanged, removed: retention.remove, kept: retention.keep, released }
}

/** A recipe lets go of nodes: their links, if still its own, and its copy of their identity. */
async function releaseNodes(site: Site, record: SiteRecord, macs: readonly string[]): Promise<string[]> {
  const names: string[] = []
  const [nfs, tftp, paths] = [treeFiles(site, record, 'nfs'), treeFiles(site, record, 'tftp'), treePaths(record)]
  for (const mac of macs) {
    const link = nodeLink(paths, mac)
    if (parseNodeLink(await tftp.readlink(link))?.recipe === record.recipe) await tftp.remove(link)
    await nfs.remove(join(recipeRoot(paths, record.recipe), 'nodes', macDir(mac)))
    names.push(record.nodes.find((n) => n.mac === mac)?.hostname ?? mac)
  }
  return names
}
