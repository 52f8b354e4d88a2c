/**
 * `netboot.nfs` as one NFS server or several (the NFS tier, issue 20): what the servers, the
 * publish targets' `nfs` destinations and the nodes' pins must say of each other, and the resolved
 * list of servers. With several, each publish target lists one `nfs` destination per server in the
 * same order, and each server's `path` defaults to its destination's folder.
 */
import { join } from 'node:path'
import type { Problem } from './problems.ts'
import type { ParsedRecipe } from './schema.ts'
import type { Destination, PublishTarget } from './types.ts'

type ParsedServer = { readonly server: string; readonly path?: string | undefined }

/** The servers of `netboot.nfs`, one or several, in order. */
export function nfsServersOf(parsed: ParsedRecipe): readonly ParsedServer[] {
  const nfs = parsed.netboot.nfs
  return Array.isArray(nfs) ? nfs : [nfs]
}

/** The destination each server's trees go to in `target`: one per server, in order. */
export function tierDestinations(target: Pick<PublishTarget, 'nfs' | 'nfsTier'>): readonly Destination[] {
  return target.nfsTier ?? [target.nfs]
}

/** The default target's NFS folders with several servers: `<out>/publish/nfs-<server>` each. */
export function defaultTierDestinations(outDir: string, servers: readonly ParsedServer[]): Destination[] {
  return servers.map((s) => ({ kind: 'local', path: join(outDir, 'publish', `nfs-${s.server}`) }))
}

/** What the servers, the targets and the nodes' pins must agree on. */
export function tierProblems(parsed: ParsedRecipe): Problem[] {
  const servers = nfsServersOf(parsed)
  const several = servers.length > 1
  const names = servers.map((s) => s.server)
  const problems: Problem[] = []
  names.forEach((name, i) => {
    if (names.indexOf(name) !== i) problems.push({ path: ['netboot', 'nfs', i, 'server'], message: `${JSON.stringify(name)} is listed twice`, hint: 'list each NFS server once' })
  })
  parsed.publish?.forEach((target, i) => {
    const given = target.nfsTier?.length ?? 1
    if (several && given !== servers.length) {
      problems.push({ path: ['publish', i, 'nfs'], message: `lists ${given} destination${given === 1 ? '' : 's'} for the ${servers.length} NFS servers of netboot.nfs`, hint: `give one destination per server, in the order of netboot.nfs: nfs: [${names.map((n) => `<folder on ${n}>`).join(', ')}]` })
    }
    if (!several && given > 1) {
      problems.push({ path: ['publish', i, 'nfs'], message: `lists ${given} destinations, but netboot.nfs names one NFS server`, hint: 'list the servers in netboot.nfs ([{ server }, { server }, …]), one per destination' })
    }
  })
  parsed.nodes.forEach((node, i) => {
    if (node.nfs === undefined || (several && names.includes(node.nfs))) return
    problems.push({
      path: ['nodes', i, 'nfs'],
      message: several ? `${JSON.stringify(node.nfs)} is not one of the NFS servers of netboot.nfs (${names.join(', ')})` : `pins the node to an NFS server, but netboot.nfs names only one`,
      hint: several ? 'pin the node to one of them, or leave nfs out and pibake chooses' : 'with one NFS server, leave nfs out',
    })
  })
  return problems
}

/** The resolved servers: each with its path (given, or its destination's folder in the first target). */
export function resolveTier(servers: readonly ParsedServer[], first: PublishTarget): { server: string; path: string }[] {
  const destinations = tierDestinations(first)
  return servers.map((s, i) => ({ server: s.server, path: s.path ?? destinations[i]?.path ?? first.nfs.path }))
}
