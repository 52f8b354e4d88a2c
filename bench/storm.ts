/**
 * A boot storm against one boot server: N simulated Pis (mixed 3B+, 4B, 5 by default) powered on
 * within one second, against real dnsmasq in a network namespace serving the dnsmasq.conf pibake
 * renders for that fleet. A baseline of 10 nodes against the same server and files gives the
 * aggregate TFTP rate the others are compared with. Then, in turn (each can be left out):
 * dnsmasq's own limits (the rendered file without its sizing lines), "3 per node" (tftp-max as
 * pibake rendered it before the bandwidth rule: 3 × nodes), and "as rendered" with tftp-max from
 * the bandwidth rule (src/netboot/sizing.ts) for THIS machine: its link taken as the baseline's
 * measured rate (or --link MB/s), the largest file the tree's. The Pi 4/5 nodes loop as their
 * EEPROM does (--net-retries, --restart-ms), a Pi 3B+ gets one attempt.
 * The boot files are the demo image's (its boot partition, copied out with mtools), one MAC folder
 * per node as publish lays them out (symlinks to one build's folder); a Pi 5 gets a copy of the
 * Pi 4's device tree (the demo has none).
 *
 *   node bench/storm.ts [--nodes 1000] [--models 3B+,4B,5] [--deadline 300] [--baseline 10] [--trim BYTES] [--trim-all BYTES] [--shrink]
 *                       [--skip-defaults] [--skip-per-node] [--tftp-max N] [--link MBPS] [--single-port] [--net-retries N] [--restart-ms MS] [--workers N]
 *                       [--pi3-server ADDRESS] [--single] [--pi3-tftp-max N]
 *
 * The "as rendered" run has dnsmasq's tftp-single-port where its tftp-max is capped below 3 per node
 * (as sizing.ts writes it), or with --single-port: requests beyond tftp-max are then dropped
 * rather than queued, and a request repeated by a client replaces its transfer (dnsmasq's tftp.c)
 * instead of starting a second one that holds a slot for 120 s.
 * It is rendered with netboot.pi3Server (--pi3-server, default 10.77.0.3): a capped fleet with Pi 3s
 * gets dnsmasq-pi3.conf too (src/netboot/pi3-split.ts), run beside dnsmasq.conf on that second
 * address of the server; --single renders it without (one dnsmasq, as before); --pi3-tftp-max N
 * overrides the Pi 3s' share, --tftp-max N the main dnsmasq's.
 *
 * Run as root (network namespaces). Nothing leaves the namespaces the bench makes.
 */
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { renderDnsmasqConf, renderSiteDnsmasqConf, type DnsmasqFleet } from '../src/netboot/dnsmasq.ts'
import { renderPi3DnsmasqConf } from '../src/netboot/pi3-dnsmasq.ts'
import { DNSMASQ_DEFAULTS, fleetSizing } from '../src/netboot/sizing.ts'
import { formatReport } from '../src/rehearse/report.ts'
import { shrinkBootFiles } from '../src/shrink/boot-files.ts'
import type { BootLoopSettings } from '../src/rehearse/firmware.ts'
import type { StormReport } from '../src/rehearse/storm.ts'
import type { NetbootModel } from '../src/recipe/types.ts'
import { demoBootTree, simulatedPis, stormOnLan } from '../test/helpers/storm-lan.ts'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' }, models: { type: 'string', default: '3B+,4B,5' }, deadline: { type: 'string', default: '300' }, 'skip-defaults': { type: 'boolean' },
    'skip-per-node': { type: 'boolean' }, baseline: { type: 'string', default: '10' }, trim: { type: 'string' }, 'trim-all': { type: 'string' }, shrink: { type: 'boolean' }, workers: { type: 'string' },
    'tftp-max': { type: 'string' }, link: { type: 'string' }, 'single-port': { type: 'boolean' }, 'net-retries': { type: 'string' }, 'restart-ms': { type: 'string' },
    'pi3-server': { type: 'string', default: '10.77.0.3' }, single: { type: 'boolean' }, 'pi3-tftp-max': { type: 'string' },
  },
})
const count = Number(values.nodes)
const models = values.models.split(',') as NetbootModel[]
const bootLoop: BootLoopSettings = { ...(values['net-retries'] ? { netRetries: Number(values['net-retries']) } : {}), ...(values['restart-ms'] ? { restartMs: Number(values['restart-ms']) } : {}) }
const dir = await mkdtemp(join(tmpdir(), 'pibake-bench-storm-'))
try {
  await chmod(dir, 0o755)
  const pis = simulatedPis(count, models, (i) => `dc:a6:32:${hex(i >> 16)}:${hex((i >> 8) & 0xff)}:${hex(i & 0xff)}`)
  const fleet = fleetOf(pis)
  // --trim BYTES cuts the kernels and initramfs images: a storm that measures the server's limits
  // rather than this machine's bandwidth.
  // --trim-all BYTES cuts every boot file, the firmware's too: a storm of the server's limits alone.
  const tftpRoot = await demoBootTree(dir, pis, { ...(values.trim ? { trimTo: Number(values.trim) } : {}), ...(values['trim-all'] ? { trimAllTo: Number(values['trim-all']) } : {}) })
  const build = join(tftpRoot, 'builds/storm/1')
  // --shrink: the kernels gzip-compressed and the initramfs xz-compressed, as src/shrink does.
  if (values.shrink) for (const line of await shrinkBootFiles(build)) process.stdout.write(`shrink: ${line.file} ${line.before} -> ${line.after} bytes (${line.how})\n`)
  const largestFile = await largest(build)
  const sized = renderDnsmasqConf(fleet, { tftpRoot: join(dir, 'tftp') })
  const defaults = sized.split('\n').filter((line) => !/^(tftp-max|dhcp-lease-max)=/.test(line)).join('\n')
  const withTftpMax = (max: number) => `${defaults.trimEnd()}\ntftp-max=${max}\n${fleetSizing(count, 'range').dhcpLeaseMax ? `dhcp-lease-max=${2 * count}\n` : ''}`
  const results: unknown[] = []
  const run = async (name: string, conf: string, nodes: readonly typeof pis[number][], tftpMax: number, pi3?: string) => {
    const file = join(dir, `${name.replaceAll(' ', '-')}.conf`)
    await writeFile(file, conf)
    const pi3Conf = pi3 === undefined ? undefined : join(dir, `${name.replaceAll(' ', '-')}-pi3.conf`)
    if (pi3Conf && pi3 !== undefined) await writeFile(pi3Conf, pi3)
    const pi3Max = pi3 === undefined ? 0 : Number(/^tftp-max=(\d+)$/m.exec(pi3)?.[1] ?? DNSMASQ_DEFAULTS.tftpMax)
    const started = performance.now()
    const load = loadavg()[0]!
    // dnsmasq's open-file limit: what its tftp-max needs (systemd's usual 1024 at least), as the published drop-in gives it:
    // a socket and a file per transfer (each node's MAC folder makes its own path, so no two transfers share a file).
    const openFiles = Math.max(DNSMASQ_DEFAULTS.openFiles, 2 * Math.max(tftpMax, pi3Max) + 50)
    const { report, serverCpuSeconds, log, pi3: second } = await stormOnLan({ conf: file, ...(pi3Conf ? { pi3Conf } : {}), server: '10.77.0.1/16', tftpRoot: join(dir, 'tftp'), dir, nodes, openFiles, bootLoop, deadlineMs: Number(values.deadline) * 1000, ...(values.workers ? { workers: Number(values.workers) } : {}) })
    const after = loadavg()[0]!
    const pi3Cpu = second ? `, the Pi 3s' dnsmasq ${second.cpuSeconds.toFixed(1)} s (${pct(second.cpuSeconds, report.seconds)})` : ''
    const cpu = `CPU: dnsmasq ${serverCpuSeconds.toFixed(1)} s (${pct(serverCpuSeconds, report.seconds)} of one core)${pi3Cpu}, simulator ${report.cpuSeconds.toFixed(1)} s (${pct(report.cpuSeconds, report.seconds)}); load before ${load.toFixed(1)}, after ${after.toFixed(1)} on ${availableParallelism()} cores`
    process.stdout.write(`\n== ${name}: ${nodes.length} nodes, tftp-max ${tftpMax}${pi3 === undefined ? '' : ` + ${pi3Max} for the Pi 3s (dnsmasq-pi3.conf)`} (${((performance.now() - started) / 1000).toFixed(0)} s with the LAN)\n${formatReport(report, { failedNodes: 5 }).join('\n')}\n${cpu}\n${serverSide(log)}\n${second ? `the Pi 3s' ${serverSide(second.log)}\n` : ''}`)
    process.stdout.write(`at the kernel hand-off, by model: ${handoffs(report).join(', ')}\nTFTP bytes per node and boot, by model: ${perModel(report).join(', ')}\n`)
    const tftp = report.totals.phases.find((p) => p.phase === 'tftp')
    results.push({ name, nodes: nodes.length, tftpMax, pi3TftpMax: pi3Max || undefined, totals: report.totals, handoffs: handoffs(report), seconds: report.seconds, serverCpuSeconds, pi3CpuSeconds: second?.cpuSeconds, simulatorCpuSeconds: report.cpuSeconds, lateDhcpReplies: report.lateDhcpReplies, load, loadAfter: after, mbps: tftp?.mbps, usefulMbps: tftp?.usefulMbps })
    return report
  }
  const base = await run('baseline', sized, pis.slice(0, Number(values.baseline)), Math.max(DNSMASQ_DEFAULTS.tftpMax, 3 * Number(values.baseline)))
  const rate = (r: StormReport) => r.totals.phases.find((p) => p.phase === 'tftp') ?? { mbps: 0, usefulMbps: 0 }
  // The bandwidth rule for this machine: its "link" is what it served the baseline at.
  const link = values.link ? Number(values.link) * 1e6 : rate(base).mbps * 1e6
  const bytesPerNode = base.nodes.reduce((sum, n) => sum + (n.bytes.tftp ?? 0), 0) / Math.max(1, base.nodes.length)
  const rule = fleetSizing(count, 'range', { linkBytesPerSecond: link, largestFile, bytesPerNode })
  const fixedMax = values['tftp-max'] ? Number(values['tftp-max']) : (rule.tftpMax ?? DNSMASQ_DEFAULTS.tftpMax)
  process.stdout.write(`\nthe bandwidth rule here: link ${(link / 1e6).toFixed(1)} MB/s${values.link ? '' : ' (the baseline\'s rate)'}, largest file ${largestFile.toLocaleString('en')} bytes, ${(bytesPerNode / 1e6).toFixed(1)} MB per node (${(count * bytesPerNode / link).toFixed(0)} s of bytes): ${rule.linkSlots} transfers at once; tftp-max ${fixedMax}${values['tftp-max'] ? ' (--tftp-max)' : ''}\n`)
  const storms: { name: string; report: StormReport }[] = []
  if (!values['skip-defaults']) storms.push({ name: 'dnsmasq defaults', report: await run('dnsmasq defaults', defaults, pis, DNSMASQ_DEFAULTS.tftpMax) })
  if (!values['skip-per-node']) storms.push({ name: '3 per node', report: await run('3 per node', withTftpMax(3 * count), pis, 3 * count) })
  if (values.single) {
    // As sizing.ts renders it for one dnsmasq: a capped tftp-max comes with tftp-single-port.
    const singlePort = values['single-port'] || fixedMax < 3 * count
    storms.push({ name: 'as rendered', report: await run(`as rendered${singlePort ? ' (tftp-single-port)' : ''}`, `${withTftpMax(fixedMax)}${singlePort ? 'tftp-single-port\n' : ''}`, pis, fixedMax) })
  } else {
    // As a site renders it, with the Pi 3s' own dnsmasq on the server's second address when the fleet is split.
    const named = { ...fleet, netboot: { ...fleet.netboot, pi3Server: values['pi3-server'] } }
    const load = { linkBytesPerSecond: link, largestFile, bytesPerNode }
    const options = { tftpRoot: join(dir, 'tftp'), load }
    const main = overrideMax(renderSiteDnsmasqConf([named], options), values['tftp-max'])
    const pi3 = renderPi3DnsmasqConf([named], options)
    const mainMax = Number(/^tftp-max=(\d+)$/m.exec(main)?.[1] ?? DNSMASQ_DEFAULTS.tftpMax)
    storms.push({ name: 'as rendered', report: await run(pi3 === undefined ? 'as rendered (one dnsmasq)' : 'as rendered (dnsmasq.conf + dnsmasq-pi3.conf)', main, pis, mainMax, pi3 === undefined ? undefined : overrideMax(pi3, values['pi3-tftp-max'])) })
  }
  process.stdout.write('\n')
  for (const { name, report } of storms) {
    const t = report.totals
    process.stdout.write(`${name}: ${t.completed}/${t.nodes} booted (${t.withinTimeouts.nodes} within their firmware's timeouts; ${handoffs(report).join(', ')}), wrong files ${wrongFiles(report)}, attempts p50/p95/max ${t.attempts.p50}/${t.attempts.p95}/${t.attempts.max}, duplicates ${t.duplicateAddresses}; aggregate TFTP ${rate(report).mbps.toFixed(1)} MB/s (useful ${rate(report).usefulMbps.toFixed(1)}) against ${rate(base).mbps.toFixed(1)} MB/s for ${values.baseline} nodes: ratio ${(rate(report).mbps / rate(base).mbps).toFixed(2)} (useful ${(rate(report).usefulMbps / rate(base).mbps).toFixed(2)})\n`)
  }
  process.stdout.write(`${JSON.stringify({ runs: results, largestFile, link, fixedMax })}\n`)
} finally {
  await rm(dir, { recursive: true, force: true })
}

/** A rendered file with its tftp-max replaced (--tftp-max, --pi3-tftp-max); the rest as rendered. */
function overrideMax(conf: string, max: string | undefined): string {
  return max === undefined ? conf : conf.replace(/^tftp-max=\d+$/m, `tftp-max=${Number(max)}`)
}

/** Files of any attempt that differ from the published one (or were served unpublished, or not served yet published). */
function wrongFiles(report: StormReport): number {
  return report.nodes.reduce((sum, n) => sum + (n.attempts ?? []).filter((a) => a.error && /wrong bytes|served, yet|yet published/.test(a.error.what)).length, 0)
}

/** Nodes at the kernel hand-off out of each model's. */
function handoffs(report: StormReport): string[] {
  const models = [...new Set(report.nodes.map((n) => n.model))]
  return models.map((model) => `${model} ${report.nodes.filter((n) => n.model === model && n.handoff !== undefined).length}/${report.nodes.filter((n) => n.model === model).length}`)
}

/** The largest file of a boot folder. */
async function largest(folder: string): Promise<number> {
  let max = 0
  for (const name of await readdir(folder, { recursive: true })) {
    const info = await stat(join(folder, name))
    if (info.isFile()) max = Math.max(max, info.size)
  }
  return max
}

function fleetOf(pis: readonly { mac: string; model: NetbootModel }[]): DnsmasqFleet {
  return {
    name: 'storm',
    file: 'bench/storm.ts',
    netboot: { server: '10.77.0.1', dhcp: { mode: 'range', start: '10.77.200.1', end: '10.77.200.250', netmask: '255.255.0.0', router: '10.77.0.1', dns: [] }, interface: undefined, log: undefined },
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
    // The successful attempt's bytes: one boot's.
    return done.length ? `${model} ${(done[0]!.attempts?.at(-1)?.bytes.tftp ?? done[0]!.bytes.tftp ?? 0).toLocaleString('en')}` : `${model} (none reached the hand-off)`
  })
}

function pct(part: number, whole: number): string {
  return `${whole > 0 ? Math.round((100 * part) / whole) : 0} %`
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0')
}
