/**
 * A site is one publish target: one boot server (dnsmasq, TFTP) and its NFS server, serving every
 * recipe published there. Each recipe has a record at `<config>/pibake/<recipe>.json`: its nodes,
 * its network settings, where its trees are, which build is live and which were live when. The
 * server configuration is rendered from all records, never from the recipe being built alone.
 *
 * Records are read back from a folder others can write, and their hosts, users, build ids and paths
 * become ssh arguments, removed paths and configuration lines: they are read (and written) only
 * through the schema of `record-schema.ts`, which refuses a record it cannot vouch for whole.
 */
import { join } from 'node:path'
import type { Destination, Node, PublishTarget, Recipe } from '../recipe/types.ts'

export const RECORD_FORMAT = 1

/** How long builds are kept: the newest `builds`, and every build that was live in the last `days`. */
export type Keep = PublishTarget['keep']

/** One published build, and when it was the one the nodes booted. */
export interface SiteBuild {
  readonly id: string
  /** ISO time the build was published. */
  readonly created: string
  /** Size of its root tree in bytes, when measured. */
  readonly bytes?: number
  /** Each time it became live, and until when (absent while it still is). */
  readonly live: readonly { readonly from: string; readonly until?: string }[]
  /** With several NFS servers: the servers the build's tree was published to. */
  readonly servers?: readonly string[]
}

export type SiteNode = Pick<Node, 'hostname' | 'mac' | 'ip' | 'serial' | 'model'> & {
  /** With several NFS servers: the one the node boots from (src/site/tier.ts). */
  readonly nfs?: string
  /** Whether the recipe pins it there (`nodes[].nfs`). */
  readonly pinned?: boolean
}

export interface SiteRecord {
  readonly format: typeof RECORD_FORMAT
  readonly recipe: string
  /** The recipe file it was last published from (on the machine that built it). */
  readonly file: string
  /** The recipe's network settings the site's configuration is rendered from (host keys stay with the build). */
  readonly netboot: Omit<Recipe['netboot'], 'hostKeys' | 'shrinkBoot'>
  readonly nodes: readonly SiteNode[]
  /** Where the trees are: `<nfs>/<recipe>/…` and the TFTP root, each here or on a host over SSH. */
  readonly where: { readonly nfs: Destination; readonly tftp: Destination; readonly nfsTier?: readonly Destination[] }
  /** The live build's id, once one is published. */
  readonly live?: string
  readonly builds: readonly SiteBuild[]
  readonly keep: Keep
  readonly updated: string
  /** With several NFS servers: those drained (`pibake drain`), which get no nodes. */
  readonly drained?: readonly string[]
  /** What the live build's nodes pull over TFTP at each boot (dnsmasq.conf's sizing); absent before a publish that measured it. */
  readonly boot?: BootLoadRecord
}

/** The boot files of a recipe's live build as the site sizes dnsmasq by them. */
export interface BootLoadRecord {
  /** The largest file any node of the recipe fetches, in bytes. */
  readonly largestFile: number
  /** The bytes a node pulls per boot, averaged over the recipe's nodes. */
  readonly bytesPerNode: number
}

/** The paths of a record's trees on their hosts. */
export function treePaths(record: SiteRecord): { nfs: string; tftp: string } {
  return { nfs: record.where.nfs.path, tftp: record.where.tftp.path }
}

/** `<config>/pibake`: the folder of a site's records. */
export function recordsDir(config: string): string {
  return join(config, 'pibake')
}

export function recordFile(config: string, recipe: string): string {
  return join(recordsDir(config), `${recipe}.json`)
}

/** The fields of a node the site keeps (a node's cmdline and config lines belong to its build). */
export function siteNode(node: SiteNode): SiteNode {
  const { hostname, mac, ip, serial, model, nfs, pinned } = node
  return { hostname, mac, model, ...(ip === undefined ? {} : { ip }), ...(serial === undefined ? {} : { serial }), ...(nfs === undefined ? {} : { nfs }), ...(pinned ? { pinned } : {}) }
}

/** The record a recipe would have at a site, keeping what the site already knows of its builds. */
export function recordFor(recipe: Recipe, where: SiteRecord['where'], keep: Keep, previous: SiteRecord | undefined, now: Date): SiteRecord {
  return {
    format: RECORD_FORMAT,
    recipe: recipe.name,
    file: recipe.file,
    netboot: siteNetboot(recipe.netboot),
    nodes: recipe.nodes.map(siteNode),
    where,
    ...(previous?.live ? { live: previous.live } : {}),
    builds: previous?.builds ?? [],
    keep,
    updated: now.toISOString(),
    ...(previous?.boot ? { boot: previous.boot } : {}),
  }
}

/** The record with `id` live from `now` on: the build live before it is live until `now`. */
export function withLive(record: SiteRecord, id: string, now: Date, bytes?: number, boot?: BootLoadRecord): SiteRecord {
  if (boot) record = { ...record, boot }
  const at = now.toISOString()
  if (record.live === id) return record
  const known = record.builds.some((b) => b.id === id)
  const builds = [...record.builds, ...(known ? [] : [{ id, created: at, live: [], ...(bytes === undefined ? {} : { bytes }) }])].map((build) => {
    if (build.id === id) return { ...build, live: [...build.live, { from: at }] }
    if (build.id === record.live) return { ...build, live: build.live.map((span) => (span.until ? span : { ...span, until: at })) }
    return build
  })
  return { ...record, live: id, builds, updated: at }
}

/** The record without the builds in `ids` (removed from the target). */
export function withoutBuilds(record: SiteRecord, ids: ReadonlySet<string>): SiteRecord {
  return { ...record, builds: record.builds.filter((b) => !ids.has(b.id)) }
}

/** What the site's servers need of `netboot`: not the host key types, nor how the boot files are compressed (`shrinkBoot`: the build's own business). */
function siteNetboot({ hostKeys: _hostKeys, shrinkBoot: _shrinkBoot, ...netboot }: Recipe['netboot']): SiteRecord['netboot'] {
  return netboot
}
