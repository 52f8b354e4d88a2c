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
 *   node bench/storm-root.ts [--nodes 100] [--reads FILE] [--deadline 600] [--trim 262144] [--skip nfs|squashfs] [--image FILE] [--models 5]
 *
 * --image FILE keeps the build's squashfs image there (made when missing, reused when there: making
 * it took 12 minutes on a loaded 2-core machine).
 *
 * The read set is the one `pibake try --record-reads` recorded for the live build of
 * out/test-cluster-node (test/rehearse/root-record.test.ts records it), or --reads FILE, read
 * against the build's tree beside it. Its identity entries are left out: the simulated nodes have no
 * identity folders. Run as root (network namespaces). Nothing leaves the namespaces it makes.
 */
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { renderDnsmasqConf, type DnsmasqFleet } from '../src/netboot/dnsmasq.ts'
import { renderGaneshaExports } from '../src/netboot/exports.ts'
import { identityName, loadReadSet, readsFileName } from '../src/rehearse/reads.ts'
import { formatReport } from '../src/rehearse/report.ts'
import { formatRootTotals, rootTotals, type RootTotals } from '../src/rehearse/root-phase.ts'
import type { NetbootModel, Recipe } from '../src/recipe/types.ts'
import { mksquashfs } from '../src/system/mksquashfs.ts'
import { rootStormOnLan } from '../test/helpers/root-lan.ts'
import { demoBootTree, simulatedPis } from '../test/helpers/storm-lan.ts'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '100' }, reads: { type: 'string' }, deadline: { type: 'string', default: '600' }, trim: { type: 'string', default: String(256 * 1024) }, skip: { type: 'string', multiple: true, default: [] }, image: { type: 'string' }, models: { type: 'string', default: '5' } } })
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
  await writeFile(conf, renderDnsmasqConf(fleetOf(pis), { tftpRoot }))
  const bytes = readSet.files.reduce((sum, f) => sum + f.size, 0)
  process.stdout.write(`read set: ${readSet.files.length} files, ${(bytes / 1e6).toFixed(1)} MB (${readsFile}); ${count} nodes\n`)
  const image = values.image ? resolve(values.image) : join(dir, 'image', `${readSet.build}.squashfs`)
  const exports = renderGaneshaExports({ ...fleetOf(pis), name: 'cluster-node' } as unknown as Recipe, { rootPath: recipeDir }) + renderGaneshaExports({ ...fleetOf(pis), name: 'bench-image' } as unknown as Recipe, { rootPath: dirname(image) })
  const modes = ['nfs', 'squashfs'].filter((mode) => !values.skip.includes(mode))
  if (modes.includes('squashfs') && !existsSync(image)) {
    await mkdir(dirname(image), { recursive: true })
    const started = performance.now()
    await mksquashfs(buildDir, image, { compressor: 'zstd', mkfsTime: 0 })
    process.stdout.write(`squashfs image of the build: ${((performance.now() - started) / 1000).toFixed(0)} s to make\n`)
  }
  /** Per run: the root totals, and the root phase's own slowest node (seconds from hand-off to read set done). */
  const results: Record<string, RootTotals & { seconds: number; phaseMax: number }> = {}
  for (const servers of [1, 2]) {
    for (const mode of modes) {
      const name = `${mode}, ${servers} server${servers > 1 ? 's' : ''}`
      const cmdline = (server: string) => `console=serial0,115200 root=/dev/nfs nfsroot=${server}:${buildDir},vers=3 ip=dhcp rootwait ro${mode === 'squashfs' ? ` pibake.root=squashfs pibake.image=${server}:${image}` : ''}\n`
      const started = performance.now()
      const report = await rootStormOnLan({ conf, tftpRoot, dir, nodes: pis, servers, exports, cmdline, root: { readSets: [readSet] }, deadlineMs: Number(values.deadline) * 1000 })
      process.stdout.write(`\n== ${name}: ${count} nodes (${((performance.now() - started) / 1000).toFixed(0)} s with the LAN)\n${[...formatReport(report, { failedNodes: 5 }), ...formatRootTotals(report)].join('\n')}\n`)
      results[name] = { ...rootTotals(report), seconds: report.seconds, phaseMax: report.totals.phases.find((p) => p.phase === 'root')?.max ?? 0 }
    }
  }
  // The root phase alone (hand-off to read set done): TFTP before it is the same in every run.
  process.stdout.write('\nroot phase, slowest node (s from its hand-off to its read set done): ')
  process.stdout.write(`${Object.entries(results).map(([name, r]) => `${name} ${r.phaseMax.toFixed(1)} s (${r.done}/${r.nodes} done, ${r.mbps.toFixed(1)} MB/s; max ${r.max?.toFixed(1) ?? '-'} s after power-on)`).join('; ')}\n`)
  const ratio = (a: string, b: string) => (results[a]?.phaseMax && results[b]?.phaseMax ? (results[a].phaseMax / results[b].phaseMax).toFixed(2) : '-')
  process.stdout.write(`a second server: nfs ${ratio('nfs, 1 server', 'nfs, 2 servers')}× faster, squashfs ${ratio('squashfs, 1 server', 'squashfs, 2 servers')}×; squashfs over nfs, one server: ${ratio('nfs, 1 server', 'squashfs, 1 server')}×\n`)
  process.stdout.write(`${JSON.stringify({ readSet: { files: readSet.files.length, bytes, file: basename(readsFile) }, nodes: count, results })}\n`)
} finally {
  await rm(dir, { recursive: true, force: true })
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
