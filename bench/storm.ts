/**
 * A boot storm against one boot server: N simulated Pis (mixed 3B+, 4B, 5 by default) powered on
 * within one second, against real dnsmasq in a network namespace serving the dnsmasq.conf pibake
 * renders for that fleet, first with dnsmasq's own limits (the rendered file without its sizing
 * lines: what a site got before pibake sized it), then as rendered. A baseline of 10 nodes against
 * the same server and files gives the ratio of aggregate TFTP throughput. The boot files are the
 * demo image's (its boot partition, copied out with mtools), one MAC folder per node as publish
 * lays them out (symlinks to one build's folder); a Pi 5 gets a copy of the Pi 4's device tree (the
 * demo has none).
 *
 *   node bench/storm.ts [--nodes 1000] [--models 3B+,4B,5] [--deadline 300] [--baseline 10] [--trim BYTES] [--trim-all BYTES] [--shrink] [--skip-defaults] [--workers N]
 *
 * Run as root (network namespaces). Nothing leaves the namespaces the bench makes.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { renderDnsmasqConf, type DnsmasqFleet } from '../src/netboot/dnsmasq.ts'
import { DNSMASQ_DEFAULTS, fleetSizing } from '../src/netboot/sizing.ts'
import { formatReport } from '../src/rehearse/report.ts'
import { shrinkBootFiles } from '../src/shrink/boot-files.ts'
import type { StormReport } from '../src/rehearse/storm.ts'
import type { NetbootModel } from '../src/recipe/types.ts'
import { demoBootTree, simulatedPis, stormOnLan } from '../test/helpers/storm-lan.ts'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '1000' }, models: { type: 'string', default: '3B+,4B,5' }, deadline: { type: 'string', default: '300' }, 'skip-defaults': { type: 'boolean' }, baseline: { type: 'string', default: '10' }, trim: { type: 'string' }, 'trim-all': { type: 'string' }, shrink: { type: 'boolean' }, workers: { type: 'string' } } })
const count = Number(values.nodes)
const models = values.models.split(',') as NetbootModel[]
const dir = await mkdtemp(join(tmpdir(), 'pibake-bench-storm-'))
try {
  await chmod(dir, 0o755)
  const pis = simulatedPis(count, models, (i) => `dc:a6:32:${hex(i >> 16)}:${hex((i >> 8) & 0xff)}:${hex(i & 0xff)}`)
  const fleet = fleetOf(pis)
  // --trim BYTES cuts the kernels and initramfs images: a storm that measures the server's limits
  // rather than this machine's bandwidth.
  // --trim-all BYTES cuts every boot file, the firmware's too: a storm of the server's limits alone.
  const tftpRoot = await demoBootTree(dir, pis, { ...(values.trim ? { trimTo: Number(values.trim) } : {}), ...(values['trim-all'] ? { trimAllTo: Number(values['trim-all']) } : {}) })
  // --shrink: the kernels gzip-compressed and the initramfs xz-compressed, as src/shrink does.
  if (values.shrink) for (const line of await shrinkBootFiles(join(tftpRoot, 'builds/storm/1'))) process.stdout.write(`shrink: ${line.file} ${line.before} -> ${line.after} bytes (${line.how})\n`)
  const sized = renderDnsmasqConf(fleet, { tftpRoot: join(dir, 'tftp') })
  const defaults = sized.split('\n').filter((line) => !/^(tftp-max|dhcp-lease-max)=/.test(line)).join('\n')
  const results: unknown[] = []
  // dnsmasq's open-file limit: systemd's usual 1024 for today's file, the published drop-in's for the sized one.
  const sizedFiles = fleetSizing(count, 'range').openFiles ?? DNSMASQ_DEFAULTS.openFiles
  const run = async (name: string, conf: string, nodes = pis, openFiles = sizedFiles) => {
    const file = join(dir, `${name}.conf`)
    await writeFile(file, conf)
    const started = performance.now()
    const load = loadavg()[0]!
    const { report, serverCpuSeconds, log } = await stormOnLan({ conf: file, server: '10.77.0.1/16', tftpRoot: join(dir, 'tftp'), dir, nodes, openFiles, deadlineMs: Number(values.deadline) * 1000, ...(values.workers ? { workers: Number(values.workers) } : {}) })
    const cpu = `CPU: dnsmasq ${serverCpuSeconds.toFixed(1)} s (${pct(serverCpuSeconds, report.seconds)} of one core), simulator ${report.cpuSeconds.toFixed(1)} s (${pct(report.cpuSeconds, report.seconds)}); load before ${load.toFixed(1)}, after ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`
    process.stdout.write(`\n== ${name}: ${nodes.length} nodes (${((performance.now() - started) / 1000).toFixed(0)} s with the LAN)\n${formatReport(report, { failedNodes: 5 }).join('\n')}\n${cpu}\n${serverSide(log)}\n`)
    process.stdout.write(`TFTP bytes per node and boot, by model: ${perModel(report).join(', ')}\n`)
    results.push({ name, nodes: nodes.length, totals: report.totals, seconds: report.seconds, serverCpuSeconds, simulatorCpuSeconds: report.cpuSeconds, lateDhcpReplies: report.lateDhcpReplies, load })
    return report
  }
  const base = await run('baseline', sized, pis.slice(0, Number(values.baseline)))
  if (!values['skip-defaults']) await run('dnsmasq defaults', defaults, pis, DNSMASQ_DEFAULTS.openFiles)
  const storm = await run('as rendered', sized)
  const rate = (r: StormReport) => r.totals.phases.find((p) => p.phase === 'tftp')?.mbps ?? 0
  process.stdout.write(`\naggregate TFTP: ${rate(storm).toFixed(1)} MB/s with ${count} nodes, ${rate(base).toFixed(1)} MB/s with ${values.baseline}: ratio ${(rate(storm) / rate(base)).toFixed(2)}\n`)
  process.stdout.write(`${JSON.stringify({ runs: results, ratio: rate(storm) / rate(base) })}\n`)
} finally {
  await rm(dir, { recursive: true, force: true })
}

function fleetOf(pis: readonly { mac: string; model: NetbootModel }[]): DnsmasqFleet {
  return {
    name: 'storm',
    file: 'bench/storm.ts',
    netboot: { dhcp: { mode: 'range', start: '10.77.200.1', end: '10.77.200.250', netmask: '255.255.0.0', router: '10.77.0.1', dns: [] }, interface: undefined, log: undefined },
    nodes: pis.map((pi, i) => ({ hostname: `pi${i}`, mac: pi.mac, ip: `10.77.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`, model: pi.model })),
  }
}

/** What dnsmasq's log says it did: DHCP messages by type, TFTP files sent, and its warnings. */
function serverSide(log: string): string {
  const count = (pattern: RegExp) => (log.match(pattern) ?? []).length
  const dhcp = ['DISCOVER', 'OFFER', 'REQUEST', 'ACK', 'NAK', 'RELEASE'].map((type) => `${type} ${count(new RegExp(`DHCP${type}\\(`, 'g'))}`).join(', ')
  const warnings = [...new Set(log.split('\n').filter((line) => /dnsmasq(-tftp|-dhcp)?\[\d+\]: (?!\d+ |DHCP|sent |file |started|compile|DHCP|TFTP root|reading|using|read )/.test(line)).map((line) => line.replace(/^.*?\]: /, '')))].slice(0, 8)
  return `dnsmasq: ${dhcp}; TFTP files sent ${count(/dnsmasq-tftp\[\d+\]: sent /g)}${warnings.length ? `; said: ${warnings.join(' | ')}` : ''}`
}

/** The TFTP bytes of a whole boot, per model, from the nodes that reached the kernel hand-off. */
function perModel(report: StormReport): string[] {
  const models = [...new Set(report.nodes.map((n) => n.model))]
  return models.map((model) => {
    const done = report.nodes.filter((n) => n.model === model && n.completed.includes('tftp'))
    return done.length ? `${model} ${(done[0]!.bytes.tftp ?? 0).toLocaleString('en')}` : `${model} (none reached the hand-off)`
  })
}

function pct(part: number, whole: number): string {
  return `${whole > 0 ? Math.round((100 * part) / whole) : 0} %`
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0')
}
