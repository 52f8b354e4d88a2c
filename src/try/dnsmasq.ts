/**
 * Runs a real dnsmasq inside a namespace of a private LAN (lan.ts) with a given configuration file: in the foreground,
 * its own pid file, log file and lease file in `dir` (never the system's), as user `dnsmasq` like the
 * packaged service (or another `user`). Stopped by PID through the LAN.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Server, Lan } from './lan.ts'

export interface Dnsmasq {
  readonly server: Server
  readonly logFile: string
  /** Everything dnsmasq has logged so far. */
  log(): string
}

export async function startDnsmasq(lan: Lan, host: string, confFile: string, dir: string, user = 'dnsmasq'): Promise<Dnsmasq> {
  const name = host
  const pidFile = join(dir, `dnsmasq-${name}.pid`)
  // A configuration that names its own log (a recipe's netboot.log) is left to write there.
  const named = /^log-facility=(.+)$/m.exec(readFileSync(confFile, 'utf8'))?.[1]
  const logFile = named ?? join(dir, `dnsmasq-${name}.log`)
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '')
  // A pid file or a "started" line left by an earlier dnsmasq in this folder would pass for this one.
  rmSync(pidFile, { force: true })
  rmSync(logFile, { force: true })
  const server = await lan.start(
    host,
    [
      'dnsmasq',
      '--keep-in-foreground',
      `--user=${user}`,
      `--pid-file=${pidFile}`,
      ...(named ? [] : [`--log-facility=${logFile}`]),
      `--dhcp-leasefile=${join(dir, `dnsmasq-${name}.leases`)}`,
      `--conf-file=${confFile}`,
    ],
    { pidFile, ready: () => /started, version/.test(log()), diagnose: log },
  )
  return { server, logFile, log }
}
