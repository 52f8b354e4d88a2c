/**
 * `pibake init`'s guess of the boot server: this host's first IPv4 address on a real interface, and
 * the network it is on. A guess, said as one in the recipe it writes.
 */
import { networkInterfaces } from 'node:os'
import { formatIPv4, netmaskBits, networkOf, parseIPv4 } from '../recipe/ipv4.ts'

export interface ServerGuess {
  readonly address: string
  readonly network: string
  readonly netmask: string
  /** The interface it was found on; undefined when this host has no IPv4 address but loopback. */
  readonly interface?: string
}

/** A documentation network (RFC 5737 would not route; a private one a user recognises as an example). */
const FALLBACK: ServerGuess = { address: '10.42.0.1', network: '10.42.0.0', netmask: '255.255.255.0' }

export function guessServer(interfaces = networkInterfaces()): ServerGuess {
  for (const [name, addresses] of Object.entries(interfaces)) {
    for (const entry of addresses ?? []) {
      if (entry.family !== 'IPv4' || entry.internal) continue
      const ip = parseIPv4(entry.address)
      const bits = netmaskBits(entry.netmask)
      if (ip === undefined || bits === undefined || bits === 32) continue
      return { address: entry.address, network: formatIPv4(networkOf(ip, bits)), netmask: entry.netmask, interface: name }
    }
  }
  return FALLBACK
}
