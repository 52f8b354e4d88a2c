/**
 * A boot storm: every simulated node powered on within `spreadMs`, each booting as its firmware
 * does, the whole bounded by `deadlineMs` (then every node still going is stopped). The totals say
 * how many reached the kernel hand-off, how long that took (p50/p95/max), the aggregate MB/s of each
 * phase, the failures grouped by what failed, and names the bottleneck.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { release, type DhcpPort, type SimulatedPi } from './dhcp-client.ts'
import type { BootLoopSettings } from './firmware.ts'
import { bootNode } from './node.ts'
import type { BootContext, LaterPhase, NodeResult } from './node-result.ts'

export interface StormOptions {
  readonly nodes: readonly SimulatedPi[]
  /** Nodes power on at even intervals within this many milliseconds (default 1000). */
  readonly spreadMs?: number
  /** When each node powers on, in milliseconds after the start (instead of `spreadMs`'s even intervals). */
  readonly powerOnMs?: readonly number[]
  /** The start, as `Date.now()` time (default: now): storms run by several processes share one. */
  readonly startAt?: number
  /** The storm stops by itself after this long (default 5 minutes). */
  readonly deadlineMs?: number
  readonly port: DhcpPort
  readonly claimAddress: BootContext['claimAddress']
  readonly expected: BootContext['expected']
  readonly later?: readonly LaterPhase[]
  /** The EEPROM's boot-loop settings of the Pi 4/5 nodes (firmware.ts's BootLoop; firmware defaults otherwise). */
  readonly bootLoop?: BootLoopSettings
  /** Give every lease back at the end (a rehearsal against a real site must). */
  readonly release?: boolean
  readonly signal?: AbortSignal
}

export interface PhaseTotals {
  readonly phase: string
  readonly completed: number
  readonly p50: number | undefined
  readonly max: number | undefined
  readonly bytes: number
  /** Aggregate MB/s: the phase's bytes over the time from its first start to its last end. */
  readonly mbps: number
  /** Of `bytes`, those of attempts that completed the phase (the rest were given up on). */
  readonly usefulBytes: number
  readonly usefulMbps: number
}

export interface StormTotals {
  readonly nodes: number
  readonly completed: number
  readonly failed: number
  /** Seconds from power-on to the kernel hand-off, over the nodes that reached it. */
  readonly handoff: { readonly p50: number; readonly p95: number; readonly max: number } | undefined
  /** Nodes that reached the hand-off with every file of their successful attempt within its firmware's limit (TFTP_FILE_TIMEOUT), and the slowest such file. */
  readonly withinTimeouts: { readonly nodes: number; readonly slowest: number | undefined; readonly limit: number | undefined; readonly retriedFiles: number }
  /** Network boot attempts per node (a Pi 4/5 starts again after a failed one): p50/p95/max, and the nodes that needed more than one. */
  readonly attempts: { readonly p50: number; readonly p95: number; readonly max: number; readonly restarted: number }
  /** Failed attempts (of nodes that booted in the end or not), grouped as `failures` is. */
  readonly attemptFailures: Readonly<Record<string, number>>
  /** Leases the nodes took, over every attempt (each given back at the end when the storm releases). */
  readonly leases: number
  readonly phases: readonly PhaseTotals[]
  /** `phase: what (file)` → how many nodes failed so. */
  readonly failures: Readonly<Record<string, number>>
  readonly duplicateAddresses: number
  readonly bottleneck: string
}

export interface StormReport {
  readonly nodes: readonly NodeResult[]
  /** Seconds after the start at which each node powered on. */
  readonly offsets: readonly number[]
  readonly totals: StormTotals
  readonly seconds: number
  /** CPU seconds the simulator itself used (user + system, every process of it). */
  readonly cpuSeconds: number
  /** DHCP answers that came after their node had given up on that request (a server too slow to answer). */
  readonly lateDhcpReplies: number
}

export async function runStorm(options: StormOptions): Promise<StormReport> {
  const spread = options.spreadMs ?? 1000
  const stop = AbortSignal.any([AbortSignal.timeout(options.deadlineMs ?? 300_000), ...(options.signal ? [options.signal] : [])])
  const ctx: BootContext = { port: options.port, signal: stop, claimAddress: options.claimAddress, expected: options.expected, ...(options.later ? { later: options.later } : {}), ...(options.bootLoop ? { bootLoop: options.bootLoop } : {}) }
  const count = options.nodes.length
  const cpu = process.cpuUsage()
  // performance.now() is this process's own clock: the start on it is the shared Date.now() start.
  const started = performance.now() + ((options.startAt ?? Date.now()) - Date.now())
  const offsets: number[] = []
  const results = await Promise.all(options.nodes.map(async (pi, index) => {
    const offset = options.powerOnMs?.[index] ?? (count > 1 ? (spread * index) / (count - 1) : 0)
    await sleep(Math.max(0, started + offset - performance.now()), undefined, { signal: stop }).catch(() => {})
    offsets[index] = (performance.now() - started) / 1000
    return bootNode(pi, ctx)
  }))
  const seconds = (performance.now() - started) / 1000
  if (options.release) {
    for (const node of results) for (const held of node.leases) await release(options.port, node.mac, held.address, held.serverId)
  }
  const used = process.cpuUsage(cpu)
  return { nodes: results, offsets, totals: totals(results, offsets, (options.later ?? []).map((p) => p.name)), seconds, cpuSeconds: (used.user + used.system) / 1e6, lateDhcpReplies: options.port.late }
}

/**
 * One storm's report from the reports of the processes that ran its nodes (their offsets on one
 * start), the nodes in the order of `macs` (the storm's own order) when given.
 */
export function mergeReports(reports: readonly StormReport[], macs?: readonly string[]): StormReport {
  const later = (reports[0]?.totals.phases ?? []).slice(2).map((p) => p.phase)
  const pairs = reports.flatMap((r) => r.nodes.map((node, i) => ({ node, offset: r.offsets[i] ?? 0 })))
  if (macs) {
    const rank = new Map(macs.map((mac, i) => [mac, i]))
    pairs.sort((a, b) => (rank.get(a.node.mac) ?? 0) - (rank.get(b.node.mac) ?? 0))
  }
  const nodes = pairs.map((p) => p.node)
  const offsets = pairs.map((p) => p.offset)
  return {
    nodes,
    offsets,
    totals: totals(nodes, offsets, later),
    seconds: Math.max(0, ...reports.map((r) => r.seconds)),
    cpuSeconds: reports.reduce((sum, r) => sum + r.cpuSeconds, 0),
    lateDhcpReplies: reports.reduce((sum, r) => sum + r.lateDhcpReplies, 0),
  }
}

export function totals(nodes: readonly NodeResult[], offsets: readonly number[], later: readonly string[] = []): StormTotals {
  const handoffs = nodes.flatMap((n) => (n.handoff === undefined ? [] : [n.handoff])).sort((a, b) => a - b)
  const failures = grouped(nodes.flatMap((n) => (n.error ? [n.error] : [])))
  const attemptFailures = grouped(nodes.flatMap((n) => (n.attempts ?? []).flatMap((a) => (a.error ? [a.error] : []))))
  // An address is a duplicate when more than one node held it (a node leased again its own is not).
  const addresses = nodes.flatMap((n) => [...new Set([...n.leases.map((l) => l.address), ...(n.address ? [n.address] : [])])])
  const phases = ['dhcp', 'tftp', ...later].map((phase, index, all) => phaseTotals(nodes, offsets, phase, all.slice(0, index)))
  const completed = nodes.filter((n) => !n.error).length
  const reached = nodes.filter((n) => n.handoff !== undefined)
  const within = reached.filter((n) => n.slowestFile === undefined || n.slowestFile.seconds <= n.slowestFile.limit)
  const slowest = within.flatMap((n) => (n.slowestFile ? [n.slowestFile] : [])).sort((a, b) => b.seconds - a.seconds)[0]
  const tries = nodes.map((n) => Math.max(1, n.attempts?.length ?? 1)).sort((a, b) => a - b)
  const base = {
    nodes: nodes.length,
    completed,
    failed: nodes.length - completed,
    handoff: handoffs.length ? { p50: quantile(handoffs, 0.5), p95: quantile(handoffs, 0.95), max: handoffs.at(-1)! } : undefined,
    withinTimeouts: { nodes: within.length, slowest: slowest?.seconds, limit: slowest?.limit, retriedFiles: reached.reduce((sum, n) => sum + (n.retriedFiles ?? 0), 0) },
    attempts: { p50: tries.length ? quantile(tries, 0.5) : 0, p95: tries.length ? quantile(tries, 0.95) : 0, max: tries.at(-1) ?? 0, restarted: tries.filter((t) => t > 1).length },
    attemptFailures,
    leases: nodes.reduce((sum, n) => sum + n.leases.length, 0),
    phases,
    failures,
    duplicateAddresses: addresses.length - new Set(addresses).size,
  }
  return { ...base, bottleneck: bottleneck(nodes, base) }
}

/** Errors grouped by phase, what and file (the serial prefix folded, the byte count left out). */
function grouped(errors: readonly { readonly phase: string; readonly what: string; readonly file?: string }[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const error of errors) {
    const key = `${error.phase}: ${error.what.replace(/, \d+ bytes in\)/, ')')}${error.file ? ` (${error.file.replace(/^[0-9a-f]{8}\//, '<serial>/')})` : ''}`
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}

function phaseTotals(nodes: readonly NodeResult[], offsets: readonly number[], phase: string, before: readonly string[]): PhaseTotals {
  let first = Infinity
  let last = 0
  let bytes = 0
  let useful = 0
  const times: number[] = []
  nodes.forEach((node, index) => {
    const took = node.seconds[phase]
    const span = node.spans?.[phase]
    if (took === undefined && span === undefined) return
    // Over every attempt where the node says when (spans, after its power-on); else its one attempt's phases end to end.
    const start = (offsets[index] ?? 0) + (span ? span[0] : before.reduce((sum, p) => sum + (node.seconds[p] ?? 0), 0))
    first = Math.min(first, start)
    last = Math.max(last, span ? (offsets[index] ?? 0) + span[1] : start + (took ?? 0))
    bytes += node.bytes[phase] ?? 0
    if (node.completed.includes(phase)) useful += node.attempts?.at(-1)?.bytes[phase] ?? node.bytes[phase] ?? 0
    if (node.completed.includes(phase) && took !== undefined) times.push(took)
  })
  times.sort((a, b) => a - b)
  const span = last - first
  return { phase, completed: times.length, p50: times.length ? quantile(times, 0.5) : undefined, max: times.at(-1), bytes, mbps: span > 0 ? bytes / 1e6 / span : 0, usefulBytes: useful, usefulMbps: span > 0 ? useful / 1e6 / span : 0 }
}

/** The one thing most in the way, in words an admin acts on. */
function bottleneck(nodes: readonly NodeResult[], t: Omit<StormTotals, 'bottleneck'>): string {
  const failed = nodes.filter((n) => n.error)
  if (!failed.length) {
    const slowest = [...t.phases].sort((a, b) => (b.max ?? 0) - (a.max ?? 0))[0]
    const first = Object.entries(t.attemptFailures).sort((a, b) => b[1] - a[1])[0]
    const loops = t.attempts.restarted ? `; ${t.attempts.restarted} nodes booted only after their firmware started again (up to ${t.attempts.max} attempts; most often failed: ${first?.[0] ?? '?'})` : ''
    return `none failed; the longest phase is ${slowest?.phase ?? 'none'} (up to ${slowest?.max ?? 0} s per node)${loops}`
  }
  const dhcp = failed.filter((n) => n.error!.phase === 'dhcp')
  const timeouts = failed.filter((n) => n.error!.phase === 'tftp' && n.error!.what.startsWith('timeout'))
  const starved = timeouts.filter((n) => /, 0 bytes in\)/.test(n.error!.what))
  const tftp = t.phases.find((p) => p.phase === 'tftp')
  if (dhcp.length >= failed.length / 2) {
    return `DHCP: ${dhcp.length} of ${t.nodes} nodes got no usable lease (${dhcp[0]!.error!.what}) within their firmware's retries: the server's lease limit (dhcp-lease-max), its range or its MAC list, or a server (or simulator) too busy to answer in time`
  }
  if (starved.length >= timeouts.length / 2 && starved.length) {
    return `TFTP transfer slots: ${starved.length} nodes asked for a file and got no block before their firmware gave up: dnsmasq's tftp-max (or its open-file limit) is below the number of nodes booting at once`
  }
  if (timeouts.length) {
    const rate = tftp ? tftp.mbps.toFixed(1) : '?'
    return `TFTP bandwidth: ${timeouts.length} nodes timed out mid-file (${timeouts[0]!.error!.file ?? ''}); ${rate} MB/s shared by ${t.nodes} nodes is too little for each to get a file within its firmware's 30 s: power on in smaller groups, or serve fewer bytes`
  }
  const first = failed[0]!.error!
  return `${first.phase}: ${first.what}${first.file ? ` (${first.file})` : ''} on ${failed.length} nodes`
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}
