/**
 * A boot storm that goes on to the root (src/rehearse/root-phase.ts), on a test LAN: the boot
 * server (10.77.0.1) runs real dnsmasq with the given dnsmasq.conf, one or more NFS servers
 * (10.77.0.2, .3, …) each run real rpcbind + nfs-ganesha serving the same published tree with the
 * given ganesha EXPORT blocks, and the simulated Pis live in namespace "pis". Each node's
 * cmdline.txt names its NFS server (the first nodes to the first server, and so on): with one server, the
 * build's boot folder holds the cmdline; with several, each server has a copy of the boot folder
 * (`builds/storm/1`, `/2`, …) whose cmdline.txt names it, and each node's MAC folder links to its
 * server's copy (the nodes in blocks: serverOf()), as a site's TFTP tree would hold one cmdline per server.
 */
import { mkdtempSync } from 'node:fs'
import { cp, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { macDir } from '../../src/netboot/layout.ts'
import type { SimulatedPi } from '../../src/rehearse/dhcp-client.ts'
import { stormInNamespace } from '../../src/rehearse/inside.ts'
import type { RootPhaseOptions } from '../../src/rehearse/root-phase.ts'
import type { StormReport } from '../../src/rehearse/storm.ts'
import { startNfsServer, type NfsServer } from './nfs-server.ts'
import { withLan, type TestLan } from './netns.ts'
import { cpuSeconds, startStormDnsmasq } from './storm-lan.ts'

export interface RootStorm {
  readonly conf: string
  /** The TFTP tree demoBootTree() laid out (one boot folder, `builds/storm/1`, every MAC folder a link to it). */
  readonly tftpRoot: string
  readonly dir: string
  readonly nodes: readonly SimulatedPi[]
  /** ganesha's EXPORT blocks, served by each NFS server (or, a list, server i the i-th). */
  readonly exports: string | readonly string[]
  /** How many NFS servers (default 1). */
  readonly servers?: number
  /** Each node's cmdline.txt, given its NFS server's address. */
  readonly cmdline: (server: string) => string
  readonly root: RootPhaseOptions
  readonly spreadMs?: number
  readonly deadlineMs?: number
  /**
   * Lines NFS server `index`'s ganesha.conf gains in its NFS_CORE_PARAM block: the ones a published
   * ganesha.conf tells the admin to add for its fleet's size (src/netboot/sizing.ts).
   */
  readonly coreParams?: (index: number) => readonly string[]
  /** Runs beside the storm, on its LAN (namespaces `srv`, `nfs0`…, `pis`), until the signal says the storm is over. */
  readonly during?: (lan: TestLan, over: AbortSignal) => Promise<void>
}

export interface RootStormRun {
  readonly report: StormReport
  /** CPU seconds each server process used during the storm (user + system): dnsmasq, and each ganesha in server order. */
  readonly cpu: { readonly dnsmasq: number; readonly ganesha: readonly number[] }
  /** Each ganesha's log of the storm (what it refused or closed). */
  readonly ganeshaLogs: readonly string[]
}

/**
 * The NFS server of node `index` of `count`: the nodes in blocks, the first count/servers on the
 * first (the storm's processes take nodes in turn, so each process has nodes of every server).
 */
export function serverOf(index: number, count: number, servers: number): number {
  return Math.floor((index * servers) / count)
}

/** The address of NFS server `index` (0, 1, …). */
export function nfsAddress(index: number): string {
  return `10.77.0.${2 + index}`
}

export async function rootStormOnLan(options: RootStorm): Promise<StormReport> {
  return (await rootStormRun(options)).report
}

/** The storm, with what its servers used and logged. */
export async function rootStormRun(options: RootStorm): Promise<RootStormRun> {
  const servers = options.servers ?? 1
  await bootFolders(options, servers)
  const nfsHosts = Array.from({ length: servers }, (_, i) => ({ name: `nfs${i}`, address: `${nfsAddress(i)}/16` }))
  return withLan([{ name: 'srv', address: '10.77.0.1/16' }, ...nfsHosts, { name: 'pis' }], async (lan) => {
    await lan.run('pis', ['ip', 'route', 'add', '255.255.255.255/32', 'dev', 'eth0'])
    const dnsmasq = await startStormDnsmasq(lan, options.conf, mkdtempSync(join(options.dir, 'dnsmasq-')))
    const ganesha: NfsServer[] = []
    for (const [index, host] of nfsHosts.entries()) {
      const exports = typeof options.exports === 'string' ? options.exports : options.exports[index]!
      // A thousand nodes' EXPORT blocks (one identity folder each) take ganesha a while to load on a busy machine.
      const nfs = await startNfsServer(lan.ns(host.name), { dir: mkdtempSync(join(options.dir, 'ganesha-')), exports, coreParams: options.coreParams?.(index) ?? [], timeoutMs: 120_000 })
      lan.track(nfs.pid)
      lan.track(nfs.rpcbindPid)
      ganesha.push(nfs)
    }
    const before = { dnsmasq: cpuSeconds(dnsmasq.pid), ganesha: ganesha.map((nfs) => cpuSeconds(nfs.pid)) }
    const logStart = ganesha.map((nfs) => nfs.log().length)
    const over = new AbortController()
    const watching = options.during?.(lan, over.signal)
    const report = await stormInNamespace(lan.ns('pis'), {
      nodes: options.nodes,
      spreadMs: options.spreadMs ?? 1000,
      deadlineMs: options.deadlineMs ?? 180_000,
      device: 'eth0',
      tftpRoot: options.tftpRoot,
      release: true,
      root: options.root,
    }).finally(() => over.abort())
    await watching
    const cpu = { dnsmasq: cpuSeconds(dnsmasq.pid) - before.dnsmasq, ganesha: ganesha.map((nfs, i) => cpuSeconds(nfs.pid) - before.ganesha[i]!) }
    return { report, cpu, ganeshaLogs: ganesha.map((nfs, i) => nfs.log().slice(logStart[i])) }
  })
}

/** One boot folder per NFS server, its cmdline.txt naming that server; node i's MAC folder links to server i mod N's. */
async function bootFolders(options: RootStorm, servers: number): Promise<void> {
  const builds = join(options.tftpRoot, 'builds/storm')
  for (const name of await readdir(builds)) if (name !== '1') await rm(join(builds, name), { recursive: true, force: true })
  for (let i = 0; i < servers; i++) {
    const folder = join(builds, String(i + 1))
    if (i > 0) await cp(join(builds, '1'), folder, { recursive: true })
    await writeFile(join(folder, 'cmdline.txt'), options.cmdline(nfsAddress(i)))
  }
  for (const [index, pi] of options.nodes.entries()) {
    const link = join(options.tftpRoot, macDir(pi.mac))
    const target = `builds/storm/${serverOf(index, options.nodes.length, servers) + 1}`
    if ((await readlink(link).catch(() => undefined)) === target) continue
    await rm(link, { force: true })
    await symlink(target, link)
  }
}
