/**
 * The NFS tier: a site whose recipes name several NFS servers (`netboot.nfs` a list). Each node is
 * assigned to one server, recorded in its site record (`nodes[].nfs`) and kept across rebuilds: a
 * node pinned in the recipe (`nodes[].nfs`) gets its pin, a node the site already placed stays where
 * it is, and a new node goes to the server holding the fewest nodes of the whole site (ties: the
 * first in `netboot.nfs`). Drained servers (`pibake drain`) get no node until `pibake undrain`.
 */
import { PibakeError } from '../errors.ts'
import type { Destination, Node, Recipe } from '../recipe/types.ts'
import type { HostFiles } from '../publish/files.ts'
import type { SiteNode, SiteRecord } from './record.ts'
import { treeFiles, type Site } from './store.ts'

/** The servers of a record's tier, in order (none when it has one NFS server). */
export function tierServers(record: Pick<SiteRecord, 'netboot'>): string[] {
  return record.netboot.nfsTier?.map((s) => s.server) ?? []
}

/** The site's drained servers, as its records say (each record keeps the whole list). */
export function drainedServers(records: readonly Pick<SiteRecord, 'drained'>[]): string[] {
  return [...new Set(records.flatMap((r) => r.drained ?? []))].sort()
}

/** How many of the site's nodes each server holds. */
export function countByServer(servers: readonly string[], nodes: readonly Pick<SiteNode, 'nfs'>[]): Map<string, number> {
  const counts = new Map(servers.map((s) => [s, 0]))
  for (const node of nodes) if (node.nfs !== undefined && counts.has(node.nfs)) counts.set(node.nfs, counts.get(node.nfs)! + 1)
  return counts
}

/** The server with the fewest nodes among `active` (the first of them on a tie), counting it taken. */
export function leastLoaded(active: readonly string[], counts: Map<string, number>): string {
  let best = active[0]!
  for (const server of active) if ((counts.get(server) ?? 0) < (counts.get(best) ?? 0)) best = server
  counts.set(best, (counts.get(best) ?? 0) + 1)
  return best
}

export interface AssignInput {
  readonly servers: readonly string[]
  readonly drained: readonly string[]
  /** The recipe's nodes, with their pins. */
  readonly nodes: readonly (SiteNode & Pick<Node, 'nfs'>)[]
  /** The recipe's record before this publish: where its nodes are. */
  readonly previous?: readonly SiteNode[] | undefined
  /** Every other recipe's nodes at the site: they count in the balance. */
  readonly others: readonly SiteNode[]
}

/**
 * Each node with its server (`nfs`) and whether the recipe pins it (`pinned`). Throws when a node is
 * pinned to a drained server, or when every server is drained.
 */
export function assignNodes(input: AssignInput): SiteNode[] {
  const { servers, drained } = input
  const active = servers.filter((s) => !drained.includes(s))
  const before = new Map((input.previous ?? []).map((n) => [n.mac, n.nfs]))
  const placed = input.nodes.map((node): string | undefined => {
    if (node.nfs !== undefined) {
      if (drained.includes(node.nfs)) {
        throw new PibakeError(`node ${node.hostname} is pinned to the NFS server ${node.nfs}, which is drained`, `pin it to another server (nodes[].nfs), or bring ${node.nfs} back first: pibake undrain ${node.nfs}`)
      }
      return node.nfs
    }
    const kept = before.get(node.mac)
    return kept !== undefined && active.includes(kept) ? kept : undefined
  })
  if (!active.length && placed.some((s) => s === undefined)) {
    throw new PibakeError(`every NFS server of the site is drained (${drained.join(', ')})`, 'bring one back: pibake undrain <server>')
  }
  const counts = countByServer(servers, [...input.others, ...placed.map((nfs) => ({ nfs }))])
  return input.nodes.map(({ nfs: pin, ...node }, i) => ({ ...node, nfs: placed[i] ?? leastLoaded(active, counts), ...(pin === undefined ? {} : { pinned: true }) }))
}

/** The destination of `server`'s trees in a record (the first server's is `where.nfs`). */
export function serverDestination(record: SiteRecord, server: string): Destination {
  const index = tierServers(record).indexOf(server)
  const destination = index < 0 ? undefined : (record.where.nfsTier?.[index] ?? (index === 0 ? record.where.nfs : undefined))
  if (!destination) throw new PibakeError(`the record of ${record.recipe} has no destination for the NFS server ${server}`, 'publish the recipe again: its record then lists one per server')
  return destination
}

/** The path `server` exports the recipe's trees under (its `netboot.nfs` entry). */
export function serverPath(record: Pick<SiteRecord, 'netboot'>, server: string): string {
  return record.netboot.nfsTier?.find((s) => s.server === server)?.path ?? record.netboot.nfs.path
}

/** Every server of the site's tier and what it holds, for `pibake site`. */
export interface TierServer {
  readonly server: string
  readonly drained: boolean
  /** Host names of its nodes, by recipe. */
  readonly nodes: readonly { readonly recipe: string; readonly hostname: string; readonly pinned: boolean }[]
}

export function tierStatus(records: readonly SiteRecord[]): TierServer[] {
  const servers = [...new Set(records.flatMap(tierServers))]
  const drained = drainedServers(records)
  return servers.map((server) => ({
    server,
    drained: drained.includes(server),
    nodes: records.flatMap((r) => r.nodes.filter((n) => n.nfs === server).map((n) => ({ recipe: r.recipe, hostname: n.hostname, pinned: n.pinned === true }))),
  }))
}

/**
 * A recipe's candidate record placed on the site's tier: its nodes assigned (pins, then where they
 * were, then the least loaded server), and the site's drained servers carried over.
 */
export function placeOnTier(candidate: SiteRecord, recipe: Pick<Recipe, 'nodes'>, records: readonly SiteRecord[]): SiteRecord {
  const servers = tierServers(candidate)
  // One NFS server: a node's server is that one, and the record says nothing of it.
  if (!servers.length) return { ...candidate, nodes: candidate.nodes.map(({ nfs: _nfs, pinned: _pinned, ...n }) => n) }
  const others = records.filter((r) => r.recipe !== candidate.recipe)
  const previous = records.find((r) => r.recipe === candidate.recipe)
  const drained = drainedServers(records).filter((s) => servers.includes(s))
  const pins = new Map(recipe.nodes.map((n) => [n.mac, n.nfs]))
  const nodes = assignNodes({
    servers,
    drained,
    nodes: candidate.nodes.map(({ nfs: _nfs, pinned: _pinned, ...n }) => ({ ...n, ...(pins.get(n.mac) === undefined ? {} : { nfs: pins.get(n.mac)! }) })),
    previous: previous?.nodes,
    others: others.flatMap((r) => r.nodes),
  })
  return { ...candidate, nodes, ...(drained.length ? { drained } : {}) }
}

/** The record saying which servers hold build `id` (with several NFS servers). */
export function withServers(record: SiteRecord, id: string, servers: readonly string[] | undefined): SiteRecord {
  if (!servers) return record
  return { ...record, builds: record.builds.map((b) => (b.id === id ? { ...b, servers: [...servers] } : b)) }
}

/** Every NFS folder of a record that is not drained: each server's with several, else its one. */
export function nfsPlaces(site: Site, record: SiteRecord): { files: HostFiles; path: string }[] {
  const servers = tierServers(record)
  if (!servers.length) return [{ files: treeFiles(site, record, 'nfs'), path: record.where.nfs.path }]
  return servers.filter((s) => !(record.drained ?? []).includes(s)).map((s) => {
    const destination = serverDestination(record, s)
    return { files: site.hosts.get(destination).files, path: destination.path }
  })
}
