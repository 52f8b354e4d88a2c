/**
 * What an administrator does to a site after publishing: roll a recipe back, unpublish it, free
 * space. The CLI and the web page call these; each changes the server configuration before the
 * files it names, so a node is never sent to a tree that is gone.
 */
import { dirname, join } from 'node:path'
import { PibakeError } from '../errors.ts'
import type { HostFiles } from '../publish/files.ts'
import { lockSite } from '../publish/lock.ts'
import { SBOM_SUFFIX } from '../sbom/files.ts'
import { PARTIAL_BUILD, buildId, buildReadsName, buildSignatureName, buildSnapshotName, isBuildId, recipeName } from './names.ts'
import { bootBuild, buildRoot, nodeFolder, nodeLink, nodeLinkTarget, parseNodeLink, recipeRoot } from './paths.ts'
import { treePaths, withLive, withoutBuilds, type Keep, type SiteRecord } from './record.ts'
import { planRetention, type Kept } from './retention.ts'
import { writeSiteConfig } from './render.ts'
import { nfsPlaces } from './tier.ts'
import { collectNodeData, removeNodeData, unlistedNodes, type NodeDataResult } from './node-data.ts'
import { readRecord, readSite, removeRecord, treeFiles, writeRecord, type Site } from './store.ts'

export interface RollbackResult {
  readonly recipe: string
  readonly from: string | undefined
  readonly to: string
  readonly switched: readonly string[]
  /** Nodes the earlier build has no boot files for (added since): they stay where they are. */
  readonly skipped: readonly string[]
}

/** Switches `current` and every node's link of the recipe to `to` (default: the build live before). */
export function rollback(site: Site, recipe: string, to?: string, now = new Date()): Promise<RollbackResult> {
  return withSiteLock(site, () => rollbackLocked(site, recipe, to, now))
}

async function rollbackLocked(site: Site, recipe: string, to: string | undefined, now: Date): Promise<RollbackResult> {
  const record = await requireRecord(site, recipe)
  const target = to === undefined ? previousBuild(record) : buildId(to, `the build to roll ${recipe} back to`)
  if (!target) throw new PibakeError(`${recipe} has no earlier build to roll back to`, `pibake site shows its builds`)
  if (!record.builds.some((b) => b.id === target)) {
    throw new PibakeError(`${recipe} has no build ${target}`, `builds: ${record.builds.map((b) => b.id).join(', ') || 'none'}`)
  }
  const [places, tftp, paths] = [nfsPlaces(site, record), treeFiles(site, record, 'tftp'), treePaths(record)]
  const onNfs = await Promise.all(places.map((p) => p.files.exists(buildRoot({ ...paths, nfs: p.path }, recipe, target))))
  if (onNfs.includes(false) || !(await tftp.exists(bootBuild(paths, recipe, target)))) {
    throw new PibakeError(`build ${target} of ${recipe} is no longer on the target`, 'choose another with --to (pibake site shows what is there)')
  }
  const switched: string[] = []
  const skipped: string[] = []
  for (const node of record.nodes) {
    if (!(await tftp.exists(join(bootBuild(paths, recipe, target), nodeFolder(node.mac, node.nfs))))) {
      skipped.push(node.hostname)
      continue
    }
    await tftp.switchSymlink(nodeLink(paths, node.mac), nodeLinkTarget(recipe, target, node.mac, node.nfs))
    switched.push(node.hostname)
  }
  for (const place of places) await place.files.switchSymlink(join(recipeRoot({ ...paths, nfs: place.path }, recipe), 'current'), `builds/${target}`)
  await writeRecord(site, withLive(record, target, now))
  return { recipe, from: record.live, to: target, switched, skipped }
}

/** The build that was live most recently before the live one. */
function previousBuild(record: SiteRecord): string | undefined {
  const last = (b: SiteRecord['builds'][number]) => b.live.map((s) => s.until ?? '').sort().at(-1) ?? ''
  const candidates = record.builds.filter((b) => b.id !== record.live)
  const wasLive = candidates.filter((b) => b.live.length).sort((a, b) => last(a).localeCompare(last(b)))
  return (wasLive.at(-1) ?? [...candidates].sort((a, b) => a.created.localeCompare(b.created)).at(-1))?.id
}

export interface UnpublishResult {
  readonly recipe: string
  readonly nodes: readonly string[]
  readonly builds: readonly string[]
  readonly configChanged: readonly string[]
  /** The nodes' persisted folders removed (`purgeNodeData`), by MAC folder name; none without it. */
  readonly nodeData: readonly string[]
}

export interface UnpublishOptions {
  /**
   * Also remove the persisted folders (`netboot.persist`) of the recipe's nodes that no other
   * recipe of the site lists. Without it they stay, for the node's next recipe.
   */
  readonly purgeNodeData?: boolean
}

/** Takes a recipe off the site: its record and nodes out of the server config first, then its files. */
export function unpublish(site: Site, recipe: string, options: UnpublishOptions = {}): Promise<UnpublishResult> {
  return withSiteLock(site, () => unpublishLocked(site, recipe, options))
}

async function unpublishLocked(site: Site, recipe: string, options: UnpublishOptions): Promise<UnpublishResult> {
  const record = await requireRecord(site, recipe)
  const others = (await readSite(site)).filter((r) => r.recipe !== recipe)
  const [places, tftp, paths] = [nfsPlaces(site, record), treeFiles(site, record, 'tftp'), treePaths(record)]
  // The folders are removed whole: first make sure they hold what pibake puts there and nothing else (on every NFS server).
  for (const { files, path } of places) await requireOwnTree(files, recipeRoot({ ...paths, nfs: path }, recipe), (name) => RECIPE_ENTRIES.includes(name) || name.startsWith('.pibake-lock') || name.startsWith('.current.'))
  await requireOwnTree(tftp, join(paths.tftp, 'builds', recipe), (name) => isBuildId(name) || PARTIAL_BUILD.test(name))
  await removeRecord(site, recipe)
  const configChanged = await writeSiteConfig(site, others)
  for (const node of record.nodes) {
    const link = nodeLink(paths, node.mac)
    if (parseNodeLink(await tftp.readlink(link))?.recipe === recipe) await tftp.remove(link)
  }
  await tftp.remove(join(paths.tftp, 'builds', recipe))
  const nodeData: string[] = []
  for (const { files, path } of places) {
    await files.remove(recipeRoot({ ...paths, nfs: path }, recipe))
    if (options.purgeNodeData) nodeData.push(...(await removeNodeData(files, path, unlistedNodes(record, others))))
  }
  return { recipe, nodes: record.nodes.map((n) => n.hostname), builds: record.builds.map((b) => b.id), configChanged, nodeData: [...new Set(nodeData)] }
}

/**
 * `gc --purge-node-data`: removes the persisted folders of nodes that no recipe of the site lists
 * any more (a node dropped from its recipe, a recipe unpublished without the flag), or with
 * `dryRun` says which it would. The folders of listed nodes, and names that are not a node's, stay.
 */
export function purgeNodeData(site: Site, options: { readonly dryRun?: boolean } = {}): Promise<NodeDataResult> {
  const run = async () => collectNodeData(site, await readSite(site), options.dryRun ?? false)
  return options.dryRun ? run() : withSiteLock(site, run)
}

/** What `<nfs>/<recipe>/` holds: its builds, the live one's link, its nodes' identities (and the locks and temporary links of a publish). */
const RECIPE_ENTRIES = ['builds', 'current', 'nodes']


/** Refuses to go on when `dir` holds anything `own` does not recognise: the record may name a folder that is not pibake's. */
async function requireOwnTree(files: HostFiles, dir: string, own: (name: string) => boolean): Promise<void> {
  const strange = (await files.list(dir)).filter((name) => !own(name))
  if (strange.length) {
    throw new PibakeError(
      `refusing to remove ${files.describe(dir)}: it holds ${strange.slice(0, 5).map((n) => JSON.stringify(n)).join(', ')}${strange.length > 5 ? ', …' : ''}, which pibake never puts there`,
      'the site record may name the wrong folder: check where (pibake site), and remove the folder by hand if it is the recipe\'s',
    )
  }
}

export interface GcResult {
  readonly recipe: string
  readonly kept: readonly Kept[]
  readonly removed: readonly Kept[]
}

export interface GcOptions {
  /** Only this recipe (default: every recipe of the site). */
  readonly recipe?: string
  /** Overrides each record's own retention. */
  readonly keep?: Partial<Keep>
  /** Say what would go, remove nothing. */
  readonly dryRun?: boolean
  readonly now?: Date
}

/** Removes the builds no node can still be running, per each recipe's retention; says what was kept and why. */
export function gc(site: Site, options: GcOptions = {}): Promise<GcResult[]> {
  return options.dryRun ? gcLocked(site, options) : withSiteLock(site, () => gcLocked(site, options))
}

async function gcLocked(site: Site, options: GcOptions): Promise<GcResult[]> {
  const records = options.recipe ? [await requireRecord(site, options.recipe)] : await readSite(site)
  const results: GcResult[] = []
  for (const record of records) {
    const keep = { ...record.keep, ...options.keep }
    const plan = planRetention(record, keep, options.now ?? new Date())
    if (!options.dryRun && plan.remove.length) await removeBuilds(site, record, plan.remove.map((b) => b.id))
    results.push({ recipe: record.recipe, kept: plan.keep, removed: plan.remove })
  }
  return results
}

/**
 * Removes builds from the target, the record first: a build the record lists is always whole.
 * Refuses before removing anything when a name is not a recipe's or a build's: each is joined into
 * a path that is removed with everything under it.
 */
export async function removeBuilds(site: Site, record: SiteRecord, ids: readonly string[]): Promise<SiteRecord> {
  recipeName(record.recipe, 'refusing to remove the builds of a recipe')
  for (const id of ids) buildId(id, `refusing to remove a build of ${record.recipe}`)
  if (ids.includes(record.live ?? '')) throw new PibakeError(`refusing to remove the live build ${record.live} of ${record.recipe}`)
  const updated = withoutBuilds(record, new Set(ids))
  await writeRecord(site, updated)
  const [tftp, paths] = [treeFiles(site, record, 'tftp'), treePaths(record)]
  for (const id of ids) {
    await tftp.remove(bootBuild(paths, record.recipe, id))
    // On every NFS server of the record (each one's, with several).
    for (const { files: nfs, path } of nfsPlaces(site, record)) {
      const root = buildRoot({ ...paths, nfs: path }, record.recipe, id)
      for (const suffix of Object.values(SBOM_SUFFIX)) await nfs.remove(`${root}${suffix}`)
      await nfs.remove(`${root}.json`)
      // What verify reads back, collected with the record it is named in.
      for (const name of [buildSignatureName(id), buildSnapshotName(id)]) await nfs.remove(join(dirname(root), name))
      // Its root read set (pibake try --record-reads), read by the storm's root phase.
      await nfs.remove(join(dirname(root), buildReadsName(id)))
      // A squashfs or ram root's image (netboot.root), beside its tree.
      await nfs.remove(`${root}.squashfs`)
      await nfs.remove(root)
    }
  }
  return updated
}

export async function requireRecord(site: Site, recipe: string): Promise<SiteRecord> {
  const record = await readRecord(site, recipeName(recipe, 'recipe'))
  if (record) return record
  const known = (await readSite(site)).map((r) => r.recipe)
  throw new PibakeError(
    `no recipe "${recipe}" is published to the site at ${site.files.describe(site.config)}`,
    known.length ? `recipes there: ${known.join(', ')}` : 'nothing is published there yet (pibake build publishes)',
  )
}

/** Runs `change` holding the site's lock: a publish or another change of the site goes before or after it. */
export async function withSiteLock<T>(site: Site, change: () => Promise<T>): Promise<T> {
  const release = await lockSite(site.files, site.config)
  try {
    return await change()
  } finally {
    await release()
  }
}
