/**
 * `pibake rehearse` as a library call: a boot storm of a site's real nodes, from a Linux machine on
 * the boot LAN, against the real boot server. It acts only as nodes that are not up (a datagram
 * sent to each node's fixed address makes this host ask for it by ARP; an address that answers is
 * up), from a network namespace of
 * its own (a macvlan on the LAN's interface, so the host's own addresses are never touched), and
 * gives back every lease it took. Range-mode fleets only: with proxy DHCP, dnsmasq finds a TFTP
 * client's folder by ARP, and the simulated nodes share one MAC on the wire.
 */
import { createSocket } from 'node:dgram'
import { setTimeout as sleep } from 'node:timers/promises'
import { PibakeError, UsageError } from '../errors.ts'
import type { Recipe } from '../recipe/types.ts'
import { linkExists, macvlanNamespace, neighboursOn } from '../system/ip.ts'
import type { SimulatedPi } from './dhcp-client.ts'
import { stormInNamespace } from './inside.ts'
import { libnfsReservedPorts } from './nfs-client.ts'
import { liveReadSets, type ReadSet } from './reads.ts'
import type { StormReport } from './storm.ts'

export interface RehearseOptions {
  readonly recipes: readonly Recipe[]
  /** How many nodes to power on (default: all that are not up). */
  readonly nodes?: number | 'all'
  /** The interface on the boot LAN. */
  readonly interface: string
  /**
   * The root phase connects from reserved ports, as a Pi's kernel does (default true;
   * RootPhaseOptions.reservedPorts). The simulated nodes share one address: a root phase of more
   * nodes than it has reserved ports for libnfs is refused before anything is sent. false:
   * ordinary ports, which nfs-ganesha accepts and a kernel NFS server refuses unless its exports
   * say `insecure` (they are `secure` by default).
   */
  readonly reservedPorts?: boolean
  /** The storm's bound (default 5 minutes). */
  readonly deadlineMs?: number
  readonly signal?: AbortSignal
  /** Told as the rehearsal goes. */
  readonly onNote?: (text: string) => void
}

export interface Rehearsal {
  readonly report: StormReport
  /** Nodes left alone, and why. */
  readonly skipped: readonly { readonly hostname: string; readonly why: string }[]
  /** Whether the files were compared with the published ones (the TFTP tree is readable here). */
  readonly compared: boolean
  /** Recipes whose nodes stop at the kernel hand-off (no root phase), and why. */
  readonly noRoot: readonly string[]
}

export async function rehearse(options: RehearseOptions): Promise<Rehearsal> {
  if (process.getuid?.() !== 0) throw new PibakeError('pibake rehearse must run as root', 'it makes a network namespace on the boot LAN for the simulated nodes: run it with sudo')
  if (!/^[\w.:@-]{1,15}$/.test(options.interface)) throw new UsageError(`"${options.interface}" is not a network interface name`)
  const proxy = options.recipes.find((r) => r.netboot.dhcp.mode === 'proxy')
  if (proxy) throw new PibakeError(`${proxy.name} uses proxy DHCP: pibake rehearse cannot act as its nodes`, 'with proxy DHCP dnsmasq finds a node\'s TFTP folder by ARP, and simulated nodes share this host\'s MAC on the wire; rehearse a range-mode fleet, or use bench/storm.ts')
  // The root phase, where the live builds' read sets are here. Identity folders are left out: each
  // is exported to its node's address alone, and libnfs connects from one address for every node.
  const reads = await liveReadSets(options.recipes)
  refuseReservedPorts(options, reads.sets)
  if (!(await linkExists(options.interface))) throw new UsageError(`there is no interface "${options.interface}" on this machine`, 'name the interface on the boot LAN (ip link lists them)')
  const note = options.onNote ?? (() => {})
  const all = options.recipes.flatMap((recipe) => recipe.nodes.map((node) => ({ recipe, node })))
  note(`checking which of ${all.length} nodes are up (ARP)`)
  const skipped: { hostname: string; why: string }[] = []
  const up = await answeringArp(all.flatMap(({ node }) => (node.ip ? [node.ip] : [])), options.interface)
  for (const { node } of all) {
    if (!node.ip) skipped.push({ hostname: node.hostname, why: 'no fixed address: cannot tell whether it is up' })
    else if (up.has(node.ip)) skipped.push({ hostname: node.hostname, why: `${node.ip} answers ARP` })
  }
  const down = all.filter(({ node }) => !skipped.some((s) => s.hostname === node.hostname))
  const count = options.nodes === undefined || options.nodes === 'all' ? down.length : Math.min(options.nodes, down.length)
  if (!count) throw new PibakeError('no node to rehearse: every node is up or has no fixed address', skipped.map((s) => `${s.hostname}: ${s.why}`).join('; '))
  const chosen = down.slice(0, count)
  const pis: SimulatedPi[] = chosen.map(({ node }) => ({ mac: node.mac.toLowerCase(), model: node.model as SimulatedPi['model'], serial: (node.serial ?? node.mac.replaceAll(':', '')).slice(-8).toLowerCase() }))
  const tftp = options.recipes[0]!.publish[0]?.tftp
  const tftpRoot = tftp?.kind === 'local' ? tftp.path : undefined
  if (reads.sets.length) note(`after the hand-off, each node reads its build's root read set over NFS (${reads.sets.map((s) => `${s.recipe} ${s.build}: ${s.files.length} files`).join('; ')}), its identity folder left out`)
  const ns = `pibake-rehearse-${process.pid}`
  const undo = await macvlanNamespace(ns, options.interface)
  try {
    note(`powering on ${count} simulated nodes from namespace ${ns} on ${options.interface}`)
    const root = reads.sets.length ? { root: { readSets: reads.sets, identity: false, reservedPorts: options.reservedPorts ?? true } } : {}
    const report = await stormInNamespace(ns, { nodes: pis, spreadMs: 1000, deadlineMs: options.deadlineMs ?? 300_000, device: 'eth0', ...(tftpRoot ? { tftpRoot } : {}), release: true, ...root }, options.signal)
    return { report, skipped, compared: tftpRoot !== undefined, noRoot: reads.missing }
  } finally {
    await undo()
  }
}

/**
 * A root phase from reserved ports for more nodes than libnfs has of them here (nfs-client.ts's
 * libnfsReservedPorts(): all its connections leave from one address, a node holds one at a time):
 * past them, each connection tries all 512 again before it takes an ordinary port, which a kernel
 * NFS server's `secure` exports refuse anyway. Counted before ARP says which nodes are up, so
 * every node of a recipe with a read set that may be powered on counts.
 */
function refuseReservedPorts(options: RehearseOptions, sets: readonly ReadSet[]): void {
  if (options.reservedPorts === false || !sets.length) return
  const reading = new Set(sets.map((set) => set.recipe))
  const candidates = options.recipes.filter((r) => reading.has(r.name)).reduce((sum, r) => sum + r.nodes.filter((n) => n.ip).length, 0)
  const most = options.nodes === undefined || options.nodes === 'all' ? candidates : Math.min(options.nodes, candidates)
  const ports = libnfsReservedPorts()
  if (most <= ports) return
  throw new UsageError(
    `up to ${most} simulated nodes would read their root over NFS from reserved ports, and they share one address, which has ${ports} that libnfs may take (512–1023 less those /etc/services names): past them every connection tries all 512 again, and a kernel NFS server refuses the ordinary port it ends with`,
    `--ordinary-ports connects from ordinary ports: nfs-ganesha accepts them; a kernel NFS server's exports are "secure" and refuse them unless they say "insecure". Or power on at most ${ports} nodes at once (--nodes ${ports})`,
  )
}

/**
 * The addresses that answer ARP on `device`: one datagram to the discard port of each makes the
 * kernel ask who has it; after a second and a half, the neighbour table holds those that answered.
 */
async function answeringArp(addresses: readonly string[], device: string): Promise<Set<string>> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, () => resolve()))
  try {
    for (const address of addresses) socket.send(Buffer.alloc(0), 9, address)
    await sleep(1500)
  } finally {
    socket.close()
  }
  const known = await neighboursOn(device)
  return new Set(addresses.filter((address) => known.has(address)))
}
