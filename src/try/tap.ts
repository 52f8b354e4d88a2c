/**
 * A QEMU guest as a host on a private LAN (lan.ts): a tap device made in the LAN's bridge namespace
 * and plugged into its bridge, and qemu-system-aarch64 run in that namespace on it. The guest then
 * takes its address from whatever DHCP server runs on the LAN (the site's dnsmasq), and every server
 * on the LAN sees it at that address. The tap goes away with the LAN's namespaces. The caller stops
 * the guest (`guest.stop()`, by PID) before the LAN closes; if the test process dies first, execa's
 * cleanup ends QEMU with it.
 *
 *   const guest = await bootOnLan(lan, { tap: 'tap-a', address: '10.77.0.11', sshFrom: 'srv', kernel, initrd, append, mac, serialLog })
 */
import { exec } from '../system/exec.ts'
import type { Lan } from './lan.ts'
import { startGuest, type Guest, type GuestOptions } from './qemu.ts'

export interface LanGuestOptions extends Omit<GuestOptions, 'netns' | 'sshPort' | 'tap'> {
  /** Name of the tap device (15 characters at most, unique on the LAN). */
  readonly tap: string
  /** The address the guest will have (from the LAN's DHCP server): where its sshd is reached. */
  readonly address: string
  /** The LAN host whose namespace SSH connections to the guest start from. */
  readonly sshFrom: string
}

/** Makes a tap device in the LAN's bridge namespace and plugs it into the bridge. */
export async function addTap(lan: Lan, name: string): Promise<void> {
  await exec(['ip', '-n', lan.lanNs, 'tuntap', 'add', 'dev', name, 'mode', 'tap'])
  await exec(['ip', '-n', lan.lanNs, 'link', 'set', name, 'master', 'br0', 'up'])
}

/** Boots a guest on the LAN through a tap device of its own (made on first use, reused on a second boot). */
export async function bootOnLan(lan: Lan, options: LanGuestOptions): Promise<Guest> {
  const { tap, address, sshFrom, ...rest } = options
  const existing = await exec(['ip', '-n', lan.lanNs, 'link', 'show', tap], { okCodes: [1] })
  if (existing.exitCode !== 0) await addTap(lan, tap)
  return startGuest({ ...rest, netns: lan.lanNs, tap: { ifname: tap, address, sshNetns: lan.ns(sshFrom) } })
}
