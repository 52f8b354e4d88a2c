/**
 * `pibake drain <server>` and `pibake undrain <server>`: a site operation on its NFS tier, like a
 * move. Draining reassigns the server's nodes to the others (the least loaded first), writes the
 * records and the server configuration (the other servers now export those nodes), then relinks
 * each node's TFTP folder to its folder for the new server in the same build: one rename per node.
 * A node keeps running from the drained server until it reboots; then it boots from its new one,
 * and the drained server can be taken down. Undraining lets new nodes be assigned to it again; with
 * `rebalance`, it also takes nodes from the busiest servers until the counts are even.
 */
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import type { HostFiles } from '../publish/files.ts'
import { withSiteLock } from './ops.ts'
import { bootBuild, nodeFolder, nodeLink, nodeLinkTarget, parseNodeLink } from './paths.ts'
import type { SiteRecord } from './record.ts'
import { treePaths } from './record.ts'
import { writeSiteConfig, type SiteConfigFile } from './render.ts'
import { readSite, treeFiles, writeRecord, type Site } from './store.ts'
import { countByServer, drainedServers, leastLoaded, tierServers } from './tier.ts'

export interface Moved {
  readonly recipe: string
  readonly hostname: string
  readonly from: string
  readonly to: string
  /** The build its link now boots from the new server. */
  readonly build: string
}

export interface DrainResult {
  readonly server: string
  readonly moved: readonly Moved[]
  readonly drained: readonly string[]
  readonly configChanged: readonly SiteConfigFile[]
}

export function drain(site: Site, server: string): Promise<DrainResult> {
  return withSiteLock(site, async () => {
    const { records, servers, drained } = await readTier(site, server)
    if (drained.includes(server)) throw new PibakeError(`the NFS server ${server} is already drained`, `pibake undrain ${server} brings it back`)
    const active = servers.filter((s) => s !== server && !drained.includes(s))
    if (!active.length) {
      throw new PibakeError(`${server} is the last NFS server of the site that is not drained: its nodes would have nowhere to go`, `bring another back first (pibake undrain ${drained[0] ?? '<server>'}), or add a server to netboot.nfs and publish`)
    }
    const pinned = records.flatMap((r) => r.nodes.filter((n) => n.nfs === server && n.pinned).map((n) => `${n.hostname} (${r.recipe})`))
    if (pinned.length) {
      throw new PibakeError(`cannot drain ${server}: the recipe pins ${pinned.join(', ')} to it`, 'pin those nodes to another server (nodes[].nfs) and publish, or leave nfs out and pibake chooses')
    }
    const counts = countByServer(servers, records.flatMap((r) => r.nodes).filter((n) => n.nfs !== server))
    const moves = records.flatMap((r) => r.nodes.filter((n) => n.nfs === server).map((n) => ({ record: r, mac: n.mac, to: leastLoaded(active, counts) })))
    return { server, ...(await applyMoves(site, records, moves, [...drained, server].sort())) }
  })
}

export interface UndrainOptions {
  /** Also move nodes from the busiest servers onto it until the counts are even (unpinned nodes only). */
  readonly rebalance?: boolean
}

export function undrain(site: Site, server: string, options: UndrainOptions = {}): Promise<DrainResult> {
  return withSiteLock(site, async () => {
    const { records, servers, drained } = await readTier(site, server)
    if (!drained.includes(server) && !options.rebalance) throw new PibakeError(`the NFS server ${server} is not drained`, `pibake site shows the nodes of each server; --rebalance evens them out`)
    const left = drained.filter((s) => s !== server)
    const moves = options.rebalance ? rebalanceOnto(server, records, servers.filter((s) => !left.includes(s))) : []
    return { server, ...(await applyMoves(site, records, moves, left)) }
  })
}

/** Moves of unpinned nodes from the busiest servers onto `server` until it holds its even share. */
function rebalanceOnto(server: string, records: readonly SiteRecord[], active: readonly string[]): Move[] {
  const nodes = records.flatMap((record) => record.nodes.map((node) => ({ record, node })))
  const counts = countByServer(active, nodes.map((n) => n.node))
  const share = Math.floor(nodes.length / active.length)
  const moves: Move[] = []
  while ((counts.get(server) ?? 0) < share) {
    const busiest = [...counts].filter(([s]) => s !== server).sort((a, b) => b[1] - a[1])[0]
    const candidate = busiest && nodes.find(({ node }) => node.nfs === busiest[0] && !node.pinned && !moves.some((m) => m.mac === node.mac))
    if (!busiest || !candidate || busiest[1] <= (counts.get(server) ?? 0) + 1) break
    moves.push({ record: candidate.record, mac: candidate.node.mac, to: server })
    counts.set(busiest[0], busiest[1] - 1)
    counts.set(server, (counts.get(server) ?? 0) + 1)
  }
  return moves
}

interface Move {
  readonly record: SiteRecord
  readonly mac: string
  readonly to: string
}

/** The site's records and its tier; refuses a site without one, or a server it does not have. */
async function readTier(site: Site, server: string): Promise<{ records: SiteRecord[]; servers: string[]; drained: string[] }> {
  const records = (await readSite(site)).filter((r) => tierServers(r).length)
  if (!records.length) {
    throw new PibakeError(`the site at ${site.files.describe(site.config)} has no recipe with several NFS servers: there is nothing to drain`, 'list the servers in netboot.nfs ([{ server }, { server }]) and publish')
  }
  const servers = [...new Set(records.flatMap(tierServers))]
  if (!servers.includes(server)) throw new PibakeError(`${JSON.stringify(server)} is not one of the site's NFS servers`, `its servers: ${servers.join(', ')}`)
  return { records, servers, drained: drainedServers(records) }
}

/**
 * Checks every move can be made (the node's build is on its new server, its folder for that server
 * is in the TFTP build), then writes the records and the configuration, then relinks each node.
 */
async function applyMoves(site: Site, records: readonly SiteRecord[], moves: readonly Move[], drained: readonly string[]): Promise<Omit<DrainResult, 'server'>> {
  const links: { files: HostFiles; link: string; target: string; moved: Moved }[] = []
  for (const move of moves) {
    const { record } = move
    const node = record.nodes.find((n) => n.mac === move.mac)!
    const tftp = treeFiles(site, record, 'tftp')
    const paths = treePaths(record)
    const booted = parseNodeLink(await tftp.readlink(nodeLink(paths, node.mac)))
    const build = [booted?.recipe === record.recipe ? booted.id : undefined, record.live].find((id) => id !== undefined && held(record, id, move.to))
    const folder = build && join(bootBuild(paths, record.recipe, build), nodeFolder(node.mac, move.to))
    if (!build || !folder || !(await tftp.exists(folder))) {
      throw new PibakeError(`${node.hostname} (${record.recipe}) cannot move to ${move.to}: the build it boots is not on that server`, `publish ${record.recipe} again (every build goes to every server that is not drained), then drain`)
    }
    links.push({ files: tftp, link: nodeLink(paths, node.mac), target: nodeLinkTarget(record.recipe, build, node.mac, move.to), moved: { recipe: record.recipe, hostname: node.hostname, from: node.nfs ?? '', to: move.to, build } })
  }
  const updated = records.map((record) => ({
    ...record,
    nodes: record.nodes.map((n) => {
      const move = moves.find((m) => m.record.recipe === record.recipe && m.mac === n.mac)
      return move ? { ...n, nfs: move.to } : n
    }),
    ...(drained.length ? { drained: [...drained] } : { drained: undefined }),
  }))
  const cleaned = updated.map(({ drained: list, ...r }) => (list ? { ...r, drained: list } : r))
  for (const record of cleaned) await writeRecord(site, record)
  const configChanged = await writeSiteConfig(site, [...cleaned, ...(await readSite(site)).filter((r) => !tierServers(r).length)])
  for (const { files, link, target } of links) await files.switchSymlink(link, target)
  return { moved: links.map((l) => l.moved), drained, configChanged }
}

/** Whether the record says build `id` is on `server` (a build recorded without servers is on every one). */
function held(record: SiteRecord, id: string, server: string): boolean {
  const build = record.builds.find((b) => b.id === id)
  return build !== undefined && (build.servers === undefined || build.servers.includes(server))
}
