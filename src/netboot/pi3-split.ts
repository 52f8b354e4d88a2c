/**
 * Whether a fleet's Pi 3B/3B+ nodes get a dnsmasq of their own, and how the boot server's TFTP
 * transfers are shared between the two.
 *
 * A Pi 3's boot ROM gets one attempt (src/rehearse/firmware.ts's BootLoop): when the fleet is large
 * enough that `tftp-max` is capped at what the link carries (sizing.ts), the Pi 4/5 nodes, whose
 * bootloader starts again after a failed attempt, keep asking and hold the slots, and a Pi 3 whose
 * requests found none stays down (measured, bench/storm.ts, 1,000 nodes: 99 of 333 3B+ booted,
 * every Pi 4/5 did). With a second address of the boot server (`netboot.pi3Server`), a second
 * dnsmasq answers the Pi 3s alone, DHCP and TFTP, with transfers of its own: the main one ignores
 * them. Both: the ROM takes its TFTP server from the DHCP answer, and which field it reads is not
 * settled (the Pi 3 documentation's example answers carry the server in the server identifier,
 * `siaddr` and nothing else; raspberrypi/firmware#801 reports siaddr ignored and the DHCP server's
 * address used, #871 option 66 ignored, #894 option 66 followed): the Pi 3s' own DHCP server gives
 * the same address in all three. And dnsmasq finds a TFTP client's MAC folder from its own leases.
 *
 * The link's transfers (`linkSlots`) are shared, not doubled (each transfer keeps the largest file
 * within half the firmware's 30 s only while the whole is below them): up to half go to the Pi 3s,
 * which must be served the first time, the rest to the others, which are served later if not now.
 */
import { FIRMWARE } from '../rehearse/firmware.ts'
import type { Dhcp, Node } from '../recipe/types.ts'
import { fleetSizing, sizingWith, type BootLoad, type FleetSizing } from './sizing.ts'

/** The file the Pi 3s' dnsmasq reads, published beside dnsmasq.conf. */
export const PI3_CONF = 'dnsmasq-pi3.conf'

export interface Pi3Split {
  /** The Pi 3s' dnsmasq listens here (`netboot.pi3Server`), the main one on `server` alone. */
  readonly address: string
  readonly server: string
  /** The Pi 3s' dnsmasq: its nodes and tftp-max. */
  readonly pi3: FleetSizing
  /** The main dnsmasq, without the Pi 3s. */
  readonly others: FleetSizing
}

/** A Pi 3B or 3B+: the boot ROM that gets one attempt. */
export function isPi3(node: Pick<Node, 'model'>): boolean {
  return FIRMWARE[node.model].family === 'pi3'
}

/**
 * The split for these nodes, or undefined when one dnsmasq serves them all as before: no second
 * address named, no Pi 3 (or nothing but Pi 3s), or a fleet whose transfers are not capped.
 */
export function pi3Split(
  netboot: { readonly server?: string; readonly pi3Server?: string; readonly dhcp: Dhcp },
  nodes: readonly Pick<Node, 'model'>[],
  load: BootLoad = {},
): Pi3Split | undefined {
  const address = netboot.pi3Server
  if (!address || !netboot.server) return undefined
  const pi3 = nodes.filter(isPi3).length
  const others = nodes.length - pi3
  if (!pi3 || !others) return undefined
  const whole = fleetSizing(nodes.length, netboot.dhcp.mode, load)
  if (whole.tftpMax === undefined || whole.tftpMax >= 3 * nodes.length) return undefined
  const slots = whole.linkSlots
  const pi3Max = Math.min(3 * pi3, Math.ceil(slots / 2))
  const othersMax = Math.min(3 * others, Math.max(1, slots - pi3Max))
  return {
    address,
    server: netboot.server,
    pi3: sizingWith(pi3, netboot.dhcp.mode, pi3Max, load, `The Pi 3B/3B+ get ${pi3Max} of the transfers the link carries at once, the other nodes' dnsmasq (dnsmasq.conf) ${othersMax}: a Pi 3 gets one attempt, so it is served first`),
    others: sizingWith(others, netboot.dhcp.mode, othersMax, load, `The other nodes get ${othersMax} of the transfers the link carries at once, the Pi 3s' dnsmasq (${PI3_CONF}) ${pi3Max}; a Pi 4/5 left waiting starts its boot again and is served later`),
  }
}

/**
 * What `pibake plan` says of the Pi 3s when the fleet's transfers are capped (sizingLimits's
 * `pi3`): nothing when there are none, their own dnsmasq when it is split, else to power them on
 * first or name a second address.
 */
export function pi3Clause(netboot: Parameters<typeof pi3Split>[0], nodes: readonly Pick<Node, 'model'>[], load: BootLoad = {}): string {
  const count = nodes.filter(isPi3).length
  if (!count) return ''
  const split = pi3Split(netboot, nodes, load)
  if (split) {
    // Each of its transfers takes the largest file in half the firmware's 30 s: twice its slots get it within the 30 s.
    const atOnce = 2 * (split.pi3.tftpMax ?? 0)
    const more = count > atOnce ? `; of more than ${atOnce} Pi 3s powered on at once, some wait past their firmware's 30 s for the largest file: power on at most ${atOnce} at once` : ''
    return `; the ${count} Pi 3B/3B+, which get one attempt, are answered by a dnsmasq of their own on ${split.address} with ${split.pi3.tftpMax} transfers (${PI3_CONF}): run it beside dnsmasq.conf${more}`
  }
  const slots = fleetSizing(nodes.length, netboot.dhcp.mode, load).linkSlots
  // Nothing but Pi 3s: a dnsmasq of their own would share the link with nobody.
  const field = count < nodes.length ? ', or name a second address of the boot server in netboot.pi3Server for a dnsmasq of their own' : ''
  return `, but a Pi 3B/3B+ gets one attempt: power those on first, at most ${slots} at once${field}`
}
