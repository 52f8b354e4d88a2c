/**
 * A node's firmware, as far as `pibake try` (and the tests) play it: on the LAN, it asks like a
 * Raspberry Pi's boot ROM: busybox udhcpc with option 93
 * (architecture 0), the PXEClient vendor class and option 43 requested (without it dnsmasq leaves
 * the PXE options out of a normal offer); then curl fetching files over TFTP (binary mode).
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PI_VENDOR_CLASS } from '../rehearse/firmware.ts'
import type { Lan } from './lan.ts'

/**
 * Returns the variables udhcpc hands its script on `bound` (it also puts the address on the
 * interface), or undefined when no server answered. `dir` holds the script and the lease file.
 * `patience`: DISCOVERs sent and seconds between them (a dnsmasq that pings an address before it
 * offers it answers after about 3 s); `pxe: false` asks as a plain client, which proxy DHCP ignores
 * (udhcpc takes the first offer, and would ask the proxy, which hands out no address, for it).
 */
export async function firmwareDhcp(lan: Lan, host: string, dir: string, mac: string, patience: { tries: number; seconds: number; pxe?: boolean } = { tries: 2, seconds: 1 }): Promise<Record<string, string> | undefined> {
  await lan.setMac(host, mac)
  const envFile = join(dir, `lease-${mac.replaceAll(':', '')}.env`)
  const script = join(dir, 'udhcpc.sh')
  writeFileSync(script, ['#!/bin/sh', '[ "$1" = bound ] || exit 0', `env > "${envFile}"`, 'ip addr add "$ip/$mask" dev "$interface"', ''].join('\n'))
  chmodSync(script, 0o755)
  const argv = ['busybox', 'udhcpc', '-f', '-q', '-n', '-i', 'eth0', '-t', String(patience.tries), '-T', String(patience.seconds), ...(patience.pxe === false ? [] : ['-O', '43', '-x', '0x5d:0000', '-V', PI_VENDOR_CLASS]), '-s', script]
  const result = await lan.run(host, argv, { okCodes: [1] })
  if (result.exitCode !== 0 || !existsSync(envFile)) return undefined
  return Object.fromEntries(readFileSync(envFile, 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
}

/** Fetches `file` from the TFTP server at `server` into `dir` (as `fetched-<file>`) and returns its bytes; 30 s at most, the Pi 4 and 5 firmware's `TFTP_FILE_TIMEOUT`. */
export async function tftpGet(lan: Lan, host: string, dir: string, server: string, file: string): Promise<Buffer> {
  const out = join(dir, `fetched-${file.replaceAll('/', '_')}`)
  await lan.run(host, ['curl', '--silent', '--show-error', '--max-time', '30', '--output', out, `tftp://${server}/${file}`])
  return readFileSync(out)
}
