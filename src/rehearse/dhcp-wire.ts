/**
 * DHCP messages as a Raspberry Pi's boot firmware sends them (DISCOVER, REQUEST, and the RELEASE a
 * rehearsal sends for every lease it took) and the server's answers read back. Pure: bytes in and
 * out. Option 93 is 0 ("x86 BIOS", for want of an ARM value), option 60 the PXEClient vendor class,
 * option 97 (Pi 4/5) the magic, board revision, low MAC bytes and serial (see site/pi-models.ts).
 */
import { readOptions } from '../site/dhcp-packet.ts'

export { readOptions }

const COOKIE = 0x63825363
export const DHCP = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7 } as const

export interface ClientMessage {
  readonly type: (typeof DHCP)['DISCOVER' | 'REQUEST' | 'RELEASE']
  readonly mac: string
  readonly xid: number
  readonly vendorClass: string
  /** Option 97's payload, type byte included. */
  readonly clientMachineId?: Buffer | undefined
  /** REQUEST: the offered address (option 50) and the server that offered it (option 54). */
  readonly requested?: string
  readonly serverId?: string
  /** RELEASE: the address given back (ciaddr). */
  readonly ciaddr?: string
  /** Seconds since the node began (the `secs` field). */
  readonly secs?: number
}

export function encodeClientMessage(message: ClientMessage): Buffer {
  const vendor = Buffer.from(message.vendorClass)
  const machineId = message.clientMachineId
  const options = Buffer.from([
    53, 1, message.type,
    ...(message.type === DHCP.RELEASE ? [] : [93, 2, 0, 0, 55, 7, 1, 3, 43, 54, 60, 66, 67]),
    ...(message.type === DHCP.RELEASE || !vendor.length ? [] : [60, vendor.length, ...vendor]),
    ...(machineId && message.type !== DHCP.RELEASE ? [97, machineId.length, ...machineId] : []),
    ...(message.requested ? [50, 4, ...ipBytes(message.requested)] : []),
    ...(message.serverId ? [54, 4, ...ipBytes(message.serverId)] : []),
    255,
  ])
  const packet = Buffer.alloc(Math.max(300, 240 + options.length))
  packet.writeUInt8(1, 0) // BOOTREQUEST
  packet.writeUInt8(1, 1) // Ethernet
  packet.writeUInt8(6, 2)
  packet.writeUInt32BE(message.xid >>> 0, 4)
  packet.writeUInt16BE(Math.min(0xffff, message.secs ?? 0), 8)
  // Answers broadcast: the node has no address yet (a RELEASE comes from one).
  if (message.type !== DHCP.RELEASE) packet.writeUInt16BE(0x8000, 10)
  if (message.ciaddr) Buffer.from(ipBytes(message.ciaddr)).copy(packet, 12)
  Buffer.from(message.mac.split(/[:-]/).map((h) => Number.parseInt(h, 16))).copy(packet, 28)
  packet.writeUInt32BE(COOKIE, 236)
  options.copy(packet, 240)
  return packet
}

export interface ServerReply {
  readonly type: number
  readonly xid: number
  readonly mac: string
  readonly yiaddr: string
  /** Where TFTP is: option 66 when given, else `siaddr` (next server), else the server id. */
  readonly tftpServer: string | undefined
  readonly serverId: string | undefined
  readonly netmask: string | undefined
  /** Option 43's PXE menu item texts (sub-option 9). */
  readonly menu: readonly string[]
}

/** Reads a BOOTREPLY; undefined for anything else. */
export function decodeServerReply(packet: Buffer): ServerReply | undefined {
  if (packet.length < 240 || packet.readUInt8(0) !== 2 || packet.readUInt32BE(236) !== COOKIE) return undefined
  const options = readOptions(packet.subarray(240))
  if (!options) return undefined
  const type = options.get(53)?.readUInt8(0) ?? 0
  const siaddr = ip(packet.subarray(20, 24))
  const serverId = options.get(54)?.length === 4 ? ip(options.get(54)!) : undefined
  const tftpName = options.get(66)?.toString('latin1').replace(/\0.*$/, '')
  return {
    type,
    xid: packet.readUInt32BE(4),
    mac: [...packet.subarray(28, 34)].map((b) => b.toString(16).padStart(2, '0')).join(':'),
    yiaddr: ip(packet.subarray(16, 20)),
    tftpServer: tftpName && /^\d+\.\d+\.\d+\.\d+$/.test(tftpName) ? tftpName : siaddr !== '0.0.0.0' ? siaddr : serverId,
    serverId,
    netmask: options.get(1)?.length === 4 ? ip(options.get(1)!) : undefined,
    menu: pxeMenu(options.get(43)),
  }
}

/** The menu item texts of option 43 (PXE sub-option 9: type (2 bytes), length, text …). */
export function pxeMenu(vendor: Buffer | undefined): string[] {
  const items = vendor ? readOptions(vendor)?.get(9) : undefined
  if (!items) return []
  const texts: string[] = []
  for (let at = 0; at + 3 <= items.length; ) {
    const length = items.readUInt8(at + 2)
    texts.push(items.subarray(at + 3, at + 3 + length).toString('latin1'))
    at += 3 + length
  }
  return texts
}

/** Prefix length of a dotted netmask (255.255.255.0 → 24). */
export function prefixLength(netmask: string): number {
  return ipBytes(netmask).reduce((bits, byte) => bits + byte.toString(2).replaceAll('0', '').length, 0)
}

function ip(bytes: Buffer): string {
  return [...bytes].join('.')
}

function ipBytes(address: string): number[] {
  return address.split('.').map(Number)
}
