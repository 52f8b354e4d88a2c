/**
 * Root read sets of many nodes (issue 20): N simulated Pis powered on within one second boot to the
 * kernel hand-off (real dnsmasq), then each reads its build's root read set over NFS (libnfs) from
 * real nfs-ganesha in a namespace, every run against the same published tree. Pi 5s by default:
 * their firmware fetches no start*.elf, so with the demo's kernel and initramfs cut to --trim bytes
 * TFTP is short and the nodes reach their roots together (--models 4B,3B+,5 mixes them). Runs:
 *
 *   nfs, 1 server      each node reads the read set's files from the build's tree
 *   squashfs, 1 server each node reads the build's squashfs image (as many bytes as the read set)
 *   nfs, 2 servers     the nodes shared between two ganesha servers of the same tree
 *   squashfs, 2 servers
 *
 * It prints, for each, the completion time (power-on to read set done: p50/p95/max), the root
 * phase's own time (hand-off to read set done) and aggregate MB/s, and the ratios of the slowest
 * node's root phase: what a squashfs root and what a second server buy.
 *
 *   node bench/storm-root.ts [--nodes 100] [--reads FILE] [--deadline 600] [--trim 262144] [--skip nfs|squashfs] [--servers 1,2] [--image FILE] [--models 5] [--call-timeout 120]
 *
 * --image FILE keeps the build's squashfs image there (made when missing, reused when there: making
 * it took 12 minutes on a loaded 2-core machine). --servers leaves out runs (1, 2 or both).
 * --call-timeout S: how long a simulated node waits for one NFS call (default 120 s; the simulator's
 * own default is 60 s): a Pi's kernel mounts hard and waits on, and a thousand nodes' 4 MiB image
 * reads queued on one server of this machine's ~90 MB/s take about 50 s each. The storm still
 * ends at --deadline: every node stops at its next call.
 *
 * Each ganesha serves what pibake publishes for the nodes it carries (renderGaneshaExports: the
 * root's export and one identity folder per node, to that node's address, the folders empty here),
 * plus the line its comment tells the admin to add to NFS_CORE_PARAM for that many nodes
 * (`RPC_Max_Connections`, above about 480 nodes: sizing.ts), added as an admin would add it; the
 * bench says which. The simulated nodes connect from ordinary ports (ganesha does not ask for
 * reserved ones, and one address has ~480 of them: RootPhaseOptions.reservedPorts). It prints,
 * per run, the CPU seconds dnsmasq, each ganesha and the simulator used, the load before and
 * after, and the kernel's neighbour-table overflows during the run (the ARP table and its
 * gc_thresh3 are the host's, shared by every namespace: counted, not changed).
 *
 * The read set is the one `pibake try --record-reads` recorded for the live build of
 * out/test-cluster-node (test/rehearse/root-record.test.ts records it), or --reads FILE, read
 * against the build's tree beside it. Its identity entries are left out: the simulated nodes have no
 * identity folders. Run as root (network namespaces). Nothing leaves the namespaces it makes.
 */
import { existsSync, readFileSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { renderDnsmasqConf, type DnsmasqFleet } from '../src/netboot/dnsmasq.ts'
import { renderGaneshaExports } from '../src/netboot/exports.ts'
import { macDir } from '../src/netboot/layout.ts'
import { identityName, loadReadSet, readsFileName } from '../src/rehearse/reads.ts'
import { formatReport } from '../src/rehearse/report.ts'
import { formatRootTotals, rootTotals, type RootTotals } from '../src/rehearse/root-phase.ts'
import type { NetbootModel, Recipe } from '../src/recipe/types.ts'
import { mksquashfs } from '../src/system/mksquashfs.ts'
import { rootStormRun, serverOf } from '../test/helpers/root-lan.ts'
import { demoBootTree, simulatedPis } from '../test/helpers/storm-lan.ts'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100' }, reads: { type: 'string' }, deadline: { type: 'string', default: '600' }, trim: { type: 'string', default: String(256 * 1024) },
    skip: { type: 'string', multiple: true, default: [] }, servers: { type: 'string', default: '1,2' }, 'call-timeout': { type: 'string', default: '120' }, image: { type: 'string' }, models: { type: 'string', default: '5' },
  },
})
const count = Number(values.nodes)
const recipeDir = join(import.meta.dirname, '../out/test-cluster-node/publish/nfs/cluster-node')
const readsFile = values.reads ?? join(recipeDir, 'builds', readsFileName((await readlink(join(recipeDir, 'current'))).replace(/^builds\//, '')))
const recorded = await loadReadSet(readsFile)
const readSet = { ...recorded, files: recorded.files.filter((f) => identityName(f.path) === undefined) }
const buildDir = join(dirname(readsFile), readSet.build)
const dir = await mkdtemp(join(tmpdir(), 'pibake-bench-storm-root-'))
try {
  await chmod(dir, 0o755)
  const pis = simulatedPis(count, values.models.split(',') as NetbootModel[], (i) => `dc:a6:32:${hex(i >> 16)}:${hex((i >> 8) & 0xff)}:${hex(i & 0xff)}`)
  const tftpRoot = await demoBootTree(dir, pis, { trimTo: Number(values.trim) })
  const conf = join(dir, 'dnsmasq.conf')
  const fleet = fleetOf(pis)
  await writeFile(conf, renderDnsmasqConf(fleet, { tftpRoot }))
  const bytes = readSet.files.reduce((sum, f) => sum + f.size, 0)
  process.stdout.write(`read set: ${readSet.files.length} files, ${(bytes / 1e6).toFixed(1)} MB (${readsFile}); ${count} nodes\n`)
  const image = values.image ? resolve(values.image) : join(dir, 'image', `${readSet.build}.squashfs`)
  // Each node's identity folder, as publish makes one (empty: the simulated nodes do not read them).
  const identity = join(dir, 'identity')
  for (const pi of pis) await mkdir(join(identity, macDir(pi.mac)), { recursive: true })
  const modes = ['nfs', 'squashfs'].filter((mode) => !values.skip.includes(mode))
  if (modes.includes('squashfs') && !existsSync(image)) {
    await mkdir(dirname(image), { recursive: true })
    const started = performance.now()
    await mksquashfs(buildDir, image, { compressor: 'zstd', mkfsTime: 0 })
    process.stdout.write(`squashfs image of the build: ${((performance.now() - started) / 1000).toFixed(0)} s to make\n`)
  }
  /** Per run: the root totals, the root phase's own slowest node (seconds from hand-off to read set done), what the servers used. */
  const results: Record<string, RootTotals & { seconds: number; phaseMax: number; cpu: { dnsmasq: number; ganesha: number[]; simulator: number }; load: [number, number]; neighbourOverflows: number; coreParams: string[] }> = {}
  for (const servers of values.servers.split(',').map(Number)) {
    const published = Array.from({ length: servers }, (_, server) => publishedExports(pis, fleet, servers, server, identity, image))
    const coreParams = published.map(adminLines)
    for (const [server, text] of published.entries()) {
      const blocks = text.split('\nEXPORT {').length - 1
      process.stdout.write(`ganesha ${server + 1} of ${servers}: pibake's EXPORT blocks for its ${pis.filter((_, i) => serverOf(i, count, servers) === server).length} nodes (${blocks} blocks), NFS_CORE_PARAM ${coreParams[server]!.length ? `plus \`${coreParams[server]!.join(' ')}\` (the line the published file tells the admin to add)` : 'as the test server has it (the published file asks for nothing)'}\n`)
    }
    for (const mode of modes) {
      const name = `${mode}, ${servers} server${servers > 1 ? 's' : ''}`
      const cmdline = (server: string) => `console=serial0,115200 root=/dev/nfs nfsroot=${server}:${buildDir},vers=3 ip=dhcp rootwait ro${mode === 'squashfs' ? ` pibake.root=squashfs pibake.image=${server}:${image}` : ''}\n`
      const load = loadavg()[0]!
      const overflows = neighbourOverflows()
      const started = performance.now()
      const run = await rootStormRun({ conf, tftpRoot, dir, nodes: pis, servers, exports: published, coreParams: (i) => coreParams[i]!, cmdline, root: { readSets: [readSet], callTimeoutMs: Number(values['call-timeout']) * 1000, reservedPorts: false }, deadlineMs: Number(values.deadline) * 1000 })
      const { report } = run
      const after = loadavg()[0]!
      const overflowed = neighbourOverflows() - overflows
      const pct = (cpu: number) => `${((100 * cpu) / report.seconds).toFixed(0)} % of one core`
      const cpu = `CPU during the storm: ganesha ${run.cpu.ganesha.map((c) => `${c.toFixed(1)} s (${pct(c)})`).join(', ')}, dnsmasq ${run.cpu.dnsmasq.toFixed(1)} s, simulator ${report.cpuSeconds.toFixed(1)} s (${pct(report.cpuSeconds)}); load before ${load.toFixed(1)}, after ${after.toFixed(1)} on ${availableParallelism()} cores; neighbour table overflows ${overflowed}`
      const closed = run.ganeshaLogs.map((log) => log.split('\n').filter((line) => /connection|Max_Connections|too many/i.test(line)).length)
      const logs = closed.some((n) => n > 0) ? `\nganesha log lines about connections: ${closed.join(', ')}; first: ${run.ganeshaLogs.flatMap((log) => log.split('\n').filter((line) => /connection|Max_Connections|too many/i.test(line))).slice(0, 2).join(' | ')}` : ''
      process.stdout.write(`\n== ${name}: ${count} nodes (${((performance.now() - started) / 1000).toFixed(0)} s with the LAN)\n${[...formatReport(report, { failedNodes: 5 }), ...formatRootTotals(report), cpu].join('\n')}${logs}\n`)
      const totals = rootTotals(report)
      results[name] = { ...totals, seconds: report.seconds, phaseMax: totals.phase?.max ?? 0, cpu: { dnsmasq: round(run.cpu.dnsmasq), ganesha: run.cpu.ganesha.map(round), simulator: round(report.cpuSeconds) }, load: [round(load), round(after)], neighbourOverflows: overflowed, coreParams: coreParams.flat() }
    }
  }
  // The root phase alone (hand-off to read set done): TFTP before it is the same in every run.
  process.stdout.write('\nroot phase, slowest node (s from its hand-off to its read set done): ')
  process.stdout.write(`${Object.entries(results).map(([name, r]) => `${name} ${r.phaseMax.toFixed(1)} s (${r.done}/${r.nodes} done, ${r.mbps.toFixed(1)} MB/s; max ${r.max?.toFixed(1) ?? '-'} s after power-on)`).join('; ')}\n`)
  // A ratio of slowest nodes means something only when every node finished: else the one of aggregate MB/s.
  const ratio = (a: string, b: string) => {
    const [x, y] = [results[a], results[b]]
    if (!x || !y) return '-'
    if (x.done === x.nodes && y.done === y.nodes && x.phaseMax && y.phaseMax) return `${(x.phaseMax / y.phaseMax).toFixed(2)}× (slowest node)`
    return x.mbps ? `${(y.mbps / x.mbps).toFixed(2)}× (aggregate MB/s: not every node finished)` : '-'
  }
  process.stdout.write(`a second server: nfs ${ratio('nfs, 1 server', 'nfs, 2 servers')} faster, squashfs ${ratio('squashfs, 1 server', 'squashfs, 2 servers')}; squashfs over nfs, one server: ${ratio('nfs, 1 server', 'squashfs, 1 server')}, two: ${ratio('nfs, 2 servers', 'squashfs, 2 servers')}\n`)
  process.stdout.write(`${JSON.stringify({ readSet: { files: readSet.files.length, bytes, file: basename(readsFile) }, nodes: count, results })}\n`)
} finally {
  await rm(dir, { recursive: true, force: true })
}

/**
 * What pibake publishes for NFS server `server` of `servers` (its nodes' identity folders, each to
 * its node's address, and the root), and the bench's image folder beside it.
 */
function publishedExports(pis: readonly { mac: string }[], fleet: DnsmasqFleet, servers: number, server: number, identity: string, image: string): string {
  const nodes = fleet.nodes.filter((_, i) => serverOf(i, pis.length, servers) === server).map((node) => ({ path: join(identity, macDir(node.mac)), client: node.ip! }))
  const recipe = { ...fleet, name: 'cluster-node' } as unknown as Recipe
  return renderGaneshaExports(recipe, { rootPath: recipeDir, nodes }) + renderGaneshaExports({ ...recipe, name: 'bench-image' }, { rootPath: dirname(image) })
}

/** The lines a published ganesha file tells the admin to add to NFS_CORE_PARAM (its comment's `#   Name = value;` lines). */
function adminLines(text: string): string[] {
  return [...text.matchAll(/^#\s+(RPC_Max_Connections = \d+;)$/gm)].map((m) => m[1]!)
}

/** The kernel's ARP table overflows so far ("neighbor table overflow!"): table_fulls of /proc/net/stat/arp_cache, summed over CPUs. */
function neighbourOverflows(): number {
  const [header, ...rows] = readFileSync('/proc/net/stat/arp_cache', 'utf8').trim().split('\n')
  const column = header!.trim().split(/\s+/).indexOf('table_fulls')
  return column < 0 ? 0 : rows.reduce((sum, row) => sum + Number.parseInt(row.trim().split(/\s+/)[column]!, 16), 0)
}

function round(n: number): number {
  return Math.round(n * 10) / 10
}

function fleetOf(pis: readonly { mac: string; model: NetbootModel }[]): DnsmasqFleet {
  return {
    name: 'storm',
    file: 'bench/storm-root.ts',
    netboot: { dhcp: { mode: 'range', start: '10.77.200.1', end: '10.77.200.250', netmask: '255.255.0.0', router: '10.77.0.1', dns: [] }, interface: undefined, log: undefined },
    nodes: pis.map((pi, i) => ({ hostname: `pi${i}`, mac: pi.mac, ip: `10.77.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`, model: pi.model })),
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0')
}
