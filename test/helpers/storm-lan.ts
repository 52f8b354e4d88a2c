/**
 * A boot storm on a test LAN: the boot server (10.77.0.1, or the fleet's server address) runs real
 * dnsmasq with a given configuration file (a site's published dnsmasq.conf), and every simulated Pi
 * lives in one more namespace ("pis"), each with its own MAC in its DHCP messages and its own
 * address on that namespace's eth0 once DHCP gave it one (dnsmasq finds a TFTP client's MAC folder
 * from its lease). Nothing leaves the LAN's namespaces; the LAN is torn down whatever happens.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SimulatedPi } from '../../src/rehearse/dhcp-client.ts'
import { stormInNamespace } from '../../src/rehearse/inside.ts'
import type { StormReport } from '../../src/rehearse/storm.ts'
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
}

export interface StormRun {
  readonly report: StormReport
  /** dnsmasq's log of the storm. */
  readonly log: string
}

export async function stormOnLan(options: StormLan): Promise<StormRun> {
  return withLan([{ name: 'srv', address: options.server }, { name: 'pis' }], async (lan) => {
    await lan.run('pis', ['ip', 'route', 'add', '255.255.255.255/32', 'dev', 'eth0'])
    const dnsmasq = await startDnsmasq(lan, options.conf, mkdtempSync(join(options.dir, 'dnsmasq-')), options.openFiles)
    const report = await stormInNamespace(lan.ns('pis'), {
      nodes: options.nodes,
      spreadMs: options.spreadMs ?? 1000,
      deadlineMs: options.deadlineMs ?? 180_000,
      device: 'eth0',
      tftpRoot: options.tftpRoot,
      release: true,
    })
    return { report, log: dnsmasq.log() }
  })
}

/** `count` simulated Pis of the given models in turn, MACs from `base` (its last two bytes count up). */
export function simulatedPis(count: number, models: readonly SimulatedPi['model'][], macOf: (index: number) => string): SimulatedPi[] {
  return Array.from({ length: count }, (_, index) => {
    const mac = macOf(index)
    return { mac, model: models[index % models.length]!, serial: `5eed${mac.replaceAll(':', '').slice(-4)}` }
  })
}

/** dnsmasq on `srv` as the site runs it (its own pid, log and lease files in `dir`), with an open-file limit when given. */
async function startDnsmasq(lan: TestLan, conf: string, dir: string, openFiles: number | undefined): Promise<{ log(): string }> {
  const pidFile = join(dir, 'dnsmasq.pid')
  const logFile = join(dir, 'dnsmasq.log')
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '')
  await lan.start('srv', [
    ...(openFiles ? ['prlimit', `--nofile=${openFiles}:${openFiles}`, '--'] : []),
    'dnsmasq', '--keep-in-foreground', '--user=dnsmasq', `--pid-file=${pidFile}`, `--log-facility=${logFile}`,
    `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`, `--conf-file=${conf}`,
  ], { pidFile, ready: () => /started, version/.test(log()), diagnose: log })
  return { log }
}
