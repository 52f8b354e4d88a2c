/**
 * A boot storm on a test LAN: the boot server (10.77.0.1, or the fleet's server address) runs real
 * dnsmasq with a given configuration file (a site's published dnsmasq.conf), and every simulated Pi
 * lives in one more namespace ("pis"), each with its own MAC in its DHCP messages and its own
 * address on that namespace's eth0 once DHCP gave it one (dnsmasq finds a TFTP client's MAC folder
 * from its lease). Nothing leaves the LAN's namespaces; the LAN is torn down whatever happens.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, readdir, stat, symlink, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { buildDemoImage } from '../../src/demo/build.ts'
import { macDir } from '../../src/netboot/layout.ts'
import type { SimulatedPi } from '../../src/rehearse/dhcp-client.ts'
import type { BootLoopSettings } from '../../src/rehearse/firmware.ts'
import { stormInNamespace } from '../../src/rehearse/inside.ts'
import type { StormReport } from '../../src/rehearse/storm.ts'
import { copyFatTree } from '../../src/system/mtools.ts'
import { bootAndRoot, readPartitionTable } from '../../src/system/partitions.ts'
import { withLan, type TestLan } from './netns.ts'

export interface StormLan {
  /** The dnsmasq.conf to serve, as written (it names its tftp-root). */
  readonly conf: string
  /** The server's address with prefix, e.g. 10.77.0.1/24. */
  readonly server: string
  /** The published TFTP tree every file is compared with. */
  readonly tftpRoot: string
  /** A folder for dnsmasq's pid, log and lease files. */
  readonly dir: string
  readonly nodes: readonly SimulatedPi[]
  readonly spreadMs?: number
  readonly deadlineMs?: number
  /** dnsmasq's open-file limit (soft and hard, set with prlimit), as a unit's LimitNOFILE= would set it. */
  readonly openFiles?: number
  /** The simulator's processes (default: one per core). */
  readonly workers?: number
  /** The EEPROM's boot-loop settings of the Pi 4/5 nodes (firmware defaults otherwise). */
  readonly bootLoop?: BootLoopSettings
  /**
   * The Pi 3s' own dnsmasq.conf as published (dnsmasq-pi3.conf), run beside `conf`: its
   * `listen-address` goes on the server's interface as a second address (the server's prefix).
   */
  readonly pi3Conf?: string
}

export interface StormRun {
  readonly report: StormReport
  /** dnsmasq's log of the storm. */
  readonly log: string
  /** CPU seconds dnsmasq used during the storm (user + system; it is one single-threaded process). */
  readonly serverCpuSeconds: number
  /** The Pi 3s' dnsmasq's log and CPU seconds, when it ran. */
  readonly pi3?: { readonly log: string; readonly cpuSeconds: number }
}

export async function stormOnLan(options: StormLan): Promise<StormRun> {
  return withLan([{ name: 'srv', address: options.server }, { name: 'pis' }], async (lan) => {
    await lan.run('pis', ['ip', 'route', 'add', '255.255.255.255/32', 'dev', 'eth0'])
    const dnsmasq = await startStormDnsmasq(lan, options.conf, mkdtempSync(join(options.dir, 'dnsmasq-')), options.openFiles)
    const pi3 = options.pi3Conf ? await startPi3Dnsmasq(lan, options.pi3Conf, options.server, mkdtempSync(join(options.dir, 'dnsmasq-pi3-')), options.openFiles) : undefined
    const before = cpuSeconds(dnsmasq.pid)
    const pi3Before = pi3 ? cpuSeconds(pi3.pid) : 0
    const report = await stormInNamespace(lan.ns('pis'), {
      nodes: options.nodes,
      spreadMs: options.spreadMs ?? 1000,
      deadlineMs: options.deadlineMs ?? 180_000,
      device: 'eth0',
      tftpRoot: options.tftpRoot,
      release: true,
      ...(options.workers ? { workers: options.workers } : {}),
      ...(options.bootLoop ? { bootLoop: options.bootLoop } : {}),
    })
    return { report, log: dnsmasq.log(), serverCpuSeconds: cpuSeconds(dnsmasq.pid) - before, ...(pi3 ? { pi3: { log: pi3.log(), cpuSeconds: cpuSeconds(pi3.pid) - pi3Before } } : {}) }
  })
}

/** The Pi 3s' dnsmasq from its published file: its listen-address added to the server's eth0 first. */
async function startPi3Dnsmasq(lan: TestLan, conf: string, server: string, dir: string, openFiles?: number): Promise<{ log(): string; readonly pid: number }> {
  const address = /^listen-address=(\d+\.\d+\.\d+\.\d+)$/m.exec(readFileSync(conf, 'utf8'))?.[1]
  if (!address) throw new Error(`${conf} names no listen-address`)
  await lan.run('srv', ['ip', 'addr', 'add', `${address}/${server.split('/')[1] ?? '24'}`, 'dev', 'eth0'])
  return startStormDnsmasq(lan, conf, dir, openFiles)
}

/** A process's CPU time so far (utime + stime of /proc/PID/stat), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}
/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100

/** `count` simulated Pis of the given models in turn, MACs from `base` (its last two bytes count up). */
export function simulatedPis(count: number, models: readonly SimulatedPi['model'][], macOf: (index: number) => string): SimulatedPi[] {
  return Array.from({ length: count }, (_, index) => {
    const mac = macOf(index)
    return { mac, model: models[index % models.length]!, serial: `5eed${mac.replaceAll(':', '').slice(-4)}` }
  })
}

/** dnsmasq on `srv` as the site runs it (its own pid, log and lease files in `dir`), with an open-file limit when given. */
export async function startStormDnsmasq(lan: TestLan, conf: string, dir: string, openFiles?: number): Promise<{ log(): string; readonly pid: number }> {
  const pidFile = join(dir, 'dnsmasq.pid')
  const logFile = join(dir, 'dnsmasq.log')
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '')
  const server = await lan.start('srv', [
    ...(openFiles ? ['prlimit', `--nofile=${openFiles}:${openFiles}`, '--'] : []),
    'dnsmasq', '--keep-in-foreground', '--user=dnsmasq', `--pid-file=${pidFile}`, `--log-facility=${logFile}`,
    `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`, `--conf-file=${conf}`,
  ], { pidFile, ready: () => /started, version/.test(log()), diagnose: log })
  return { log, pid: server.pid }
}

export interface BootTreeOptions {
  /** Cut kernel8.img and initramfs8 to this many bytes (a storm that measures limits, not bandwidth). */
  readonly trimTo?: number
  /** Cut every boot file (the firmware's start*.elf too) to at most this many bytes. */
  readonly trimAllTo?: number
}

/**
 * A TFTP tree laid out as publish lays one out: the arm64 demo image's boot partition (its real
 * firmware, config.txt, device trees, kernel and initramfs) as one build's folder, and each node's
 * MAC folder a symlink to it. The demo has no Pi 5 device tree (Debian's kernel ships none): a copy
 * of the Pi 4's stands in, so that a Pi 5 gets past it. Returns the TFTP root.
 */
export async function demoBootTree(dir: string, pis: readonly SimulatedPi[], options: BootTreeOptions = {}): Promise<string> {
  const image = await buildDemoImage({ arch: 'arm64', outDir: join(import.meta.dirname, '../../out/demo') })
  const tftp = join(dir, 'tftp')
  const build = join(tftp, 'builds/storm/1')
  await mkdir(build, { recursive: true })
  await copyFatTree(image.img, bootAndRoot(await readPartitionTable(image.img), image.img).boot.offset, build)
  await copyFile(join(build, 'bcm2711-rpi-4-b.dtb'), join(build, 'bcm2712-rpi-5-b.dtb'))
  if (options.trimTo !== undefined) {
    for (const name of ['kernel8.img', 'initramfs8', 'kernel_2712.img', 'initramfs_2712']) await truncate(join(build, name), options.trimTo)
  }
  if (options.trimAllTo !== undefined) {
    for (const name of await readdir(build, { recursive: true })) {
      const path = join(build, name)
      const info = await stat(path)
      if (info.isFile() && info.size > options.trimAllTo) await truncate(path, options.trimAllTo)
    }
  }
  for (const pi of pis) await symlink('builds/storm/1', join(tftp, macDir(pi.mac)))
  return tftp
}
