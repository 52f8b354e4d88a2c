/** A site as an administrator looks at it: each recipe, the build each node boots, the builds kept. */
import { parseNodeLink, nodeLink } from './paths.ts'
import { treePaths, type SiteNode } from './record.ts'
import { planRetention } from './retention.ts'
import { readSite, treeFiles, type Site } from './store.ts'
import { tierStatus, type TierServer } from './tier.ts'

export interface NodeView extends SiteNode {
  /** The recipe and build its TFTP link points at now (another recipe's after a move). */
  readonly boots: { readonly recipe: string; readonly build: string } | undefined
}

export interface BuildView {
  readonly id: string
  readonly created: string
  readonly bytes: number | undefined
  readonly live: boolean
  /** When it last stopped being live. */
  readonly liveUntil: string | undefined
  /** Why the retention keeps it, or that the next gc removes it. */
  readonly retention: string
}

export interface RecipeView {
  readonly recipe: string
  readonly file: string
  readonly live: string | undefined
  readonly updated: string
  readonly nodes: readonly NodeView[]
  readonly builds: readonly BuildView[]
}

export interface SiteView {
  readonly config: string
  readonly recipes: readonly RecipeView[]
  /** With several NFS servers: each server, whether it is drained, and its nodes. */
  readonly nfsServers?: readonly TierServer[]
}

export async function siteStatus(site: Site, now = new Date()): Promise<SiteView> {
  const records = await readSite(site)
  const recipes = await Promise.all(
    records.map(async (record): Promise<RecipeView> => {
      const retention = planRetention(record, record.keep, now)
      const why = new Map([...retention.keep.map((k) => [k.id, `kept: ${k.why}`] as const), ...retention.remove.map((k) => [k.id, 'the next gc removes it'] as const)])
      const nodes = await Promise.all(
        record.nodes.map(async (node) => {
          const link = parseNodeLink(await treeFiles(site, record, 'tftp').readlink(nodeLink(treePaths(record), node.mac)))
          return { ...node, boots: link ? { recipe: link.recipe, build: link.id } : undefined }
        }),
      )
      const builds = [...record.builds]
        .sort((a, b) => a.created.localeCompare(b.created))
        .map((b) => ({
          id: b.id,
          created: b.created,
          bytes: b.bytes,
          live: b.id === record.live,
          liveUntil: b.live.map((s) => s.until).filter((u): u is string => u !== undefined).sort().at(-1),
          retention: why.get(b.id) ?? '',
        }))
      return { recipe: record.recipe, file: record.file, live: record.live, updated: record.updated, nodes, builds }
    }),
  )
  const tier = tierStatus(records)
  return { config: site.files.describe(site.config), recipes, ...(tier.length ? { nfsServers: tier } : {}) }
}
