/**
 * A small DHCP client that sees every answer to one DISCOVER, for testing proxy DHCP (busybox udhcpc
 * takes the first offer and stops). It sends a DISCOVER like the Raspberry Pi bootloader's (client
 * architecture 0 in option 93, `PXEClient:…` in option 60, option 43 requested), collects all offers
 * for `--timeout` seconds and prints them as JSON. Run it inside a test namespace:
 *
 *   ip netns exec NS node test/helpers/dhcp-client.ts --mac dc:a6:32:01:02:03 --timeout 3
 *
 * It binds 0.0.0.0:68, so the namespace needs a route for 255.255.255.255 (an address on eth0, or
 * `ip route add 255.255.255.255 dev eth0`). Offers come back broadcast (the broadcast flag is set).
 */
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

export { PI_VENDOR_CLASS } from '../../src/rehearse/firmware.ts'
import { PI_VENDOR_CLASS } from '../../src/rehearse/firmware.ts'

export interface Offer {
  /** Address and port the answer came from. */
  readonly from: string
  /** Milliseconds between sending the DISCOVER and this answer arriving. */
  readonly afterMs?: number
  readonly messageType: string
  readonly serverId: string | undefined
  readonly yiaddr: string
  readonly siaddr: string
  readonly file: string
  /** Options by number: addresses, text, numbers, or hex for the rest (43 stays hex here). */
  readonly options: Readonly<Record<string, string | number>>
  /** Option 43 decoded as PXE sub-options, when present. */
  readonly pxe: PxeOptions | undefined
}

export interface PxeOptions {
  readonly discoveryControl: number | undefined
  readonly menu: readonly { readonly type: number; readonly text: string }[]
  readonly prompt: { readonly timeout: number; readonly text: string } | undefined
}

const MESSAGE_TYPES = ['', 'DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK', 'RELEASE', 'INFORM']
const ADDRESS_OPTIONS = new Set([1, 3, 6, 28, 54])
const TEXT_OPTIONS = new Set([12, 15, 17, 60, 66, 67])
const NUMBER_OPTIONS = new Set([51, 58, 59])
const COOKIE = 0x63825363

/** What a DISCOVER carries beyond the defaults, for clients that are not (or are more exactly) a Pi. */
export interface DiscoverExtras {
  /** Option 97 (client machine id) payload, type byte included: the Pi 4/5 bootloader sends 17 bytes. */
  readonly clientMachineId?: Buffer
  /** Leave out option 93 (client architecture), as a PC's plain DHCP client does. */
  readonly noArch?: boolean
}

export function encodeDiscover(mac: string, xid: number, vendorClass = PI_VENDOR_CLASS, extras: DiscoverExtras = {}): Buffer {
  const vendor = Buffer.from(vendorClass)
  const machineId = extras.clientMachineId
  const options = Buffer.from([
    53, 1, 1, // DHCPDISCOVER
    ...(extras.noArch ? [] : [93, 2, 0, 0]), // client architecture 0, as the Pi bootloader sends
    55, 7, 1, 3, 43, 54, 60, 66, 67, // parameters requested
    ...(vendor.length ? [60, vendor.length, ...vendor] : []),
    ...(machineId ? [97, machineId.length, ...machineId] : []),
    255,
  ])
  // 300 bytes at least, as BOOTP clients send; more when the options need it (never cut them off).
  const packet = Buffer.alloc(Math.max(300, 240 + options.length))
  packet.writeUInt8(1, 0) // BOOTREQUEST
  packet.writeUInt8(1, 1) // Ethernet
  packet.writeUInt8(6, 2)
  packet.writeUInt32BE(xid, 4)
  packet.writeUInt16BE(0x8000, 10) // broadcast the answers: we have no address yet
  Buffer.from(mac.split(/[:-]/).map((h) => Number.parseInt(h, 16))).copy(packet, 28)
  packet.writeUInt32BE(COOKIE, 236)
  options.copy(packet, 240)
  return packet
}

export function decodeOffer(packet: Buffer, from: string): Offer | undefined {
  if (packet.length < 240 || packet.readUInt8(0) !== 2 || packet.readUInt32BE(236) !== COOKIE) return undefined
  const raw = readOptions(packet.subarray(240))
  const options: Record<string, string | number> = {}
  for (const [code, value] of raw) options[String(code)] = formatOption(code, value)
  const type = raw.get(53)?.readUInt8(0) ?? 0
  const vendor = raw.get(43)
  return {
    from,
    messageType: MESSAGE_TYPES[type] ?? String(type),
    serverId: raw.has(54) ? ipv4(raw.get(54) as Buffer) : undefined,
    yiaddr: ipv4(packet.subarray(16, 20)),
    siaddr: ipv4(packet.subarray(20, 24)),
    file: cString(packet.subarray(108, 236)),
    options,
    pxe: vendor ? decodePxe(vendor) : undefined,
  }
}

export function decodePxe(vendor: Buffer): PxeOptions {
  const sub = readOptions(vendor)
  const menu: { type: number; text: string }[] = []
  const items = sub.get(9) ?? Buffer.alloc(0)
  for (let at = 0; at + 3 <= items.length; ) {
    const length = items.readUInt8(at + 2)
    menu.push({ type: items.readUInt16BE(at), text: items.subarray(at + 3, at + 3 + length).toString('latin1') })
    at += 3 + length
  }
  const prompt = sub.get(10)
  return {
    discoveryControl: sub.get(6)?.readUInt8(0),
    menu,
    prompt: prompt && prompt.length ? { timeout: prompt.readUInt8(0), text: prompt.subarray(1).toString('latin1') } : undefined,
  }
}

/** Options as code → value, in a buffer of `code, length, value…` ending at 255. */
function readOptions(buffer: Buffer): Map<number, Buffer> {
  const options = new Map<number, Buffer>()
  for (let at = 0; at < buffer.length; ) {
    const code = buffer.readUInt8(at)
    if (code === 255) break
    if (code === 0) {
      at += 1
      continue
    }
    const length = buffer.readUInt8(at + 1)
    options.set(code, buffer.subarray(at + 2, at + 2 + length))
    at += 2 + length
  }
  return options
}

function formatOption(code: number, value: Buffer): string | number {
  if (ADDRESS_OPTIONS.has(code)) return [...Array(value.length / 4).keys()].map((i) => ipv4(value.subarray(i * 4, i * 4 + 4))).join(',')
  if (TEXT_OPTIONS.has(code)) return cString(value)
  if (NUMBER_OPTIONS.has(code) && value.length === 4) return value.readUInt32BE(0)
  if (code === 53) return value.readUInt8(0)
  return value.toString('hex')
}

function ipv4(bytes: Buffer): string {
  return [...bytes].join('.')
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0)
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('latin1')
}

/** Sends one DISCOVER and returns every answer that arrives within `timeoutMs`. */
export async function discover(mac: string, timeoutMs: number, vendorClass?: string, extras?: DiscoverExtras): Promise<Offer[]> {
  const xid = randomBytes(4).readUInt32BE(0)
  const socket = createSocket({ type: 'udp4', reuseAddr: true })
  const offers: Offer[] = []
  let sent = 0
  socket.on('message', (message, rinfo) => {
    const offer = decodeOffer(message, `${rinfo.address}:${rinfo.port}`)
    if (offer && message.readUInt32BE(4) === xid) offers.push({ ...offer, afterMs: Math.round(performance.now() - sent) })
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(68, '0.0.0.0', () => resolve())
  })
  try {
    socket.setBroadcast(true)
    const packet = encodeDiscover(mac, xid, vendorClass, extras)
    sent = performance.now()
    await new Promise<void>((resolve, reject) => socket.send(packet, 67, '255.255.255.255', (error) => (error ? reject(error) : resolve())))
    await new Promise((resolve) => setTimeout(resolve, timeoutMs))
  } finally {
    socket.close()
  }
  return offers
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      mac: { type: 'string' },
      timeout: { type: 'string', default: '3' },
      'vendor-class': { type: 'string' },
      'client-machine-id': { type: 'string' },
      'no-arch': { type: 'boolean' },
    },
  })
  if (!values.mac) {
    process.stderr.write('usage: dhcp-client.ts --mac <mac> [--timeout <seconds>] [--vendor-class <text>] [--client-machine-id <hex>] [--no-arch]\n')
    process.exit(2)
  }
  const machineId = values['client-machine-id']
  const extras = { clientMachineId: machineId ? Buffer.from(machineId.replaceAll(':', ''), 'hex') : undefined, noArch: values['no-arch'] }
  const offers = await discover(values.mac, Number(values.timeout) * 1000, values['vendor-class'], extras)
  process.stdout.write(`${JSON.stringify({ offers }, null, 2)}\n`)
}
