/**
 * Reads a DHCP request (RFC 2131): the 236-byte BOOTP header, the magic cookie, then options as
 * `code, length, value…` up to option 255. Pure: bytes in, a plain object out; anything that is not a
 * well-formed Ethernet BOOTREQUEST gives `undefined` rather than a half-read request.
 */

/** DHCP message types (option 53) by number. */
export const MESSAGE_TYPES = ['', 'DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK', 'RELEASE', 'INFORM'] as const

export interface DhcpRequest {
  /** Transaction id, as dnsmasq prints it in its log (decimal). */
  readonly xid: number
  /** Client hardware address, lower-case with colons. */
  readonly mac: string
  /** `DISCOVER`, `REQUEST`… (option 53); undefined for a plain BOOTP request. */
  readonly messageType: string | undefined
  /** Option 60, vendor class identifier (the Pi sends `PXEClient:Arch:00000:UNDI:002001`). */
  readonly vendorClass: string | undefined
  /** Option 93, client system architecture (the Pi sends 0, "x86 BIOS", for want of its own). */
  readonly clientArch: number | undefined
  /** Option 97, client machine identifier: its whole payload, type byte included. */
  readonly clientMachineId: Buffer | undefined
  /** Option 12, the host name the client proposes. */
  readonly hostname: string | undefined
  /** Every option by code (the last occurrence wins), for callers that want more. */
  readonly options: ReadonlyMap<number, Buffer>
}

const HEADER = 236
const COOKIE = 0x63825363
const BOOTREQUEST = 1
const ETHERNET = 1

/** Parses one UDP payload sent to port 67; undefined if it is not a well-formed DHCP request. */
export function parseDhcpRequest(packet: Buffer): DhcpRequest | undefined {
  if (packet.length < HEADER + 4) return undefined
  if (packet.readUInt8(0) !== BOOTREQUEST || packet.readUInt8(1) !== ETHERNET || packet.readUInt8(2) !== 6) return undefined
  if (packet.readUInt32BE(HEADER) !== COOKIE) return undefined
  const options = readOptions(packet.subarray(HEADER + 4))
  if (!options) return undefined
  const type = options.get(53)
  const arch = options.get(93)
  return {
    xid: packet.readUInt32BE(4),
    mac: formatMac(packet.subarray(28, 34)),
    messageType: type?.length === 1 ? (MESSAGE_TYPES[type.readUInt8(0)] ?? String(type.readUInt8(0))) : undefined,
    vendorClass: text(options.get(60)),
    clientArch: arch && arch.length >= 2 ? arch.readUInt16BE(0) : undefined,
    clientMachineId: options.get(97),
    hostname: text(options.get(12)),
    options,
  }
}

/** `code, length, value…` until 255 (or the end of the buffer); undefined if a length runs past the end. */
export function readOptions(buffer: Buffer): Map<number, Buffer> | undefined {
  const options = new Map<number, Buffer>()
  for (let at = 0; at < buffer.length; ) {
    const code = buffer.readUInt8(at)
    if (code === 255) return options
    if (code === 0) {
      at += 1
      continue
    }
    if (at + 2 > buffer.length) return undefined
    const length = buffer.readUInt8(at + 1)
    if (at + 2 + length > buffer.length) return undefined
    options.set(code, buffer.subarray(at + 2, at + 2 + length))
    at += 2 + length
  }
  return options
}

export function formatMac(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':')
}

/** An option's text up to a NUL, or undefined when absent or not printable. */
function text(value: Buffer | undefined): string | undefined {
  if (!value) return undefined
  const end = value.indexOf(0)
  const result = value.subarray(0, end < 0 ? value.length : end).toString('latin1')
  return /^[\x20-\x7e]*$/.test(result) ? result : undefined
}
