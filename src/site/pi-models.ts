/**
 * What a DHCP request tells about a Raspberry Pi: the MAC prefix (only which era of boards it
 * belongs to), the bootloader's vendor class, and the Pi 4/5 bootloader's option 97, which carries
 * the board revision code and the low 32 bits of the serial.
 *
 * Option 97 (client machine id), as the Raspberry Pi bootloader documentation (`DHCP_OPTION97`)
 * describes it: type 0, then 16 bytes. Since the 2020-03 EEPROMs: a 4-byte magic (the fourcc
 * `0x34695052`, "RPi4", little-endian: bytes `52 50 69 34`, or a custom value set with
 * `DHCP_OPTION97`), the board revision (4 bytes), the low 4 bytes of the MAC, the 4-byte serial.
 * Earlier EEPROMs sent the serial repeated four times. Byte order: dnsmasq logs from real CM4s show
 * the revision little-endian (`41 31 a0 00` = 0x00a03141) and the MAC bytes in wire order; the serial
 * is assumed to be stored like the revision (a little-endian 32-bit word) — nothing public shows it
 * byte for byte, so a decoded serial is reported as "likely", and the MAC check raises or lowers
 * how sure the decoding is.
 */
import type { PiModel } from '../recipe/types.ts'

export interface MacPrefix {
  readonly prefix: string
  /** The boards this prefix has been seen on: a guess, not a rule (prefixes are reused). */
  readonly era: string
  /** The model to put in a recipe when nothing better is known. */
  readonly guess: PiModel
}

/** Raspberry Pi Ethernet MAC prefixes (OUIs) and the boards they have been seen on. */
export const PI_MAC_PREFIXES: readonly MacPrefix[] = [
  { prefix: 'b8:27:eb', era: 'Raspberry Pi Foundation: Pi 1 to 3, of which 3B and 3B+ netboot', guess: '3B+' },
  { prefix: 'dc:a6:32', era: 'Raspberry Pi Trading: Pi 4 era (4B, 400, CM4)', guess: '4B' },
  { prefix: 'e4:5f:01', era: 'Raspberry Pi Trading: Pi 4 era (4B, 400, CM4)', guess: '4B' },
  { prefix: '28:cd:c1', era: 'Raspberry Pi Trading: Pi 4 era and later', guess: '4B' },
  { prefix: 'd8:3a:dd', era: 'Raspberry Pi Trading: Pi 4 and Pi 5 era', guess: '5' },
  { prefix: '2c:cf:67', era: 'Raspberry Pi Trading: Pi 5 era (5, 500, CM5)', guess: '5' },
  { prefix: '88:a2:9e', era: 'Raspberry Pi Trading: Pi 5 era (5, 500, CM5)', guess: '5' },
]

/** The Raspberry Pi prefix of a MAC (lower-case, colons), or undefined for other vendors. */
export function piMacPrefix(mac: string): MacPrefix | undefined {
  const prefix = mac.toLowerCase().slice(0, 8)
  return PI_MAC_PREFIXES.find((p) => p.prefix === prefix)
}

/** Board types of new-style revision codes (bits 4–11), with the recipe's model name where it has one. */
const BOARD_TYPES: Readonly<Record<number, { name: string; model?: PiModel }>> = {
  0x08: { name: 'Pi 3B', model: '3B' },
  0x0d: { name: 'Pi 3B+', model: '3B+' },
  0x0e: { name: 'Pi 3A+', model: '3A+' },
  0x10: { name: 'Compute Module 3+' },
  0x11: { name: 'Pi 4B', model: '4B' },
  0x12: { name: 'Pi Zero 2 W', model: 'Zero 2 W' },
  0x13: { name: 'Pi 400', model: '400' },
  0x14: { name: 'Compute Module 4', model: 'CM4' },
  0x15: { name: 'Compute Module 4S' },
  0x17: { name: 'Pi 5', model: '5' },
  0x18: { name: 'Compute Module 5', model: 'CM5' },
  0x19: { name: 'Pi 500', model: '500' },
  0x1a: { name: 'Compute Module 5 Lite', model: 'CM5' },
}

export interface Revision {
  readonly code: number
  /** e.g. `Pi 4B`. */
  readonly name: string
  readonly model: PiModel | undefined
}

/** Decodes a new-style board revision code (bit 23 set); undefined for anything else. */
export function decodeRevision(code: number): Revision | undefined {
  if (!(code & 0x800000) || code >>> 24 !== 0) return undefined
  const type = BOARD_TYPES[(code >> 4) & 0xff]
  return type ? { code, name: type.name, model: type.model } : undefined
}

export interface MachineId {
  /** `rpi` (magic + revision + MAC + serial), `serial-repeated` (older EEPROMs), `unknown`. */
  readonly format: 'rpi' | 'serial-repeated' | 'unknown'
  readonly revision: Revision | undefined
  /** The 8 hex digits of the serial the boot ROM uses as TFTP prefix, when the payload gives them. */
  readonly serial: string | undefined
  /** Whether the payload's MAC bytes are the request's MAC: yes, no, or the format has none. */
  readonly macMatches: boolean | undefined
  /** How it was read, in a few words, for the comment beside the node. */
  readonly how: string
}

const RPI4_MAGIC = 0x34695052

/** Reads option 97 of a request from `mac`; `format: 'unknown'` for payloads it cannot place. */
export function decodeClientMachineId(payload: Buffer, mac: string): MachineId {
  const unknown = (how: string): MachineId => ({ format: 'unknown', revision: undefined, serial: undefined, macMatches: undefined, how })
  if (payload.length !== 17 || payload.readUInt8(0) !== 0) return unknown(`option 97 of ${payload.length} bytes, not type 0 + 16: not read`)
  const words = [1, 5, 9, 13].map((at) => payload.subarray(at, at + 4))
  if (words.every((w) => w.equals(words[0]!))) {
    return { format: 'serial-repeated', revision: undefined, serial: hex32(words[0]!.readUInt32LE(0)), macMatches: undefined, how: 'option 97 holds one word four times (older EEPROM): the serial, byte order assumed little-endian' }
  }
  const magic = words[0]!.readUInt32LE(0)
  const magicKnown = magic === RPI4_MAGIC || words[0]!.readUInt32BE(0) === RPI4_MAGIC
  const revision = decodeRevision(words[1]!.readUInt32LE(0))
  const macBytes = Buffer.from(mac.split(':').slice(2).map((h) => Number.parseInt(h, 16)))
  const macMatches = words[2]!.equals(macBytes)
  if (!revision && !magicKnown) return unknown('option 97 has neither the "RPi4" magic nor a board revision: not read')
  const serial = hex32(words[3]!.readUInt32LE(0))
  const parts = [
    magicKnown ? '"RPi4" magic' : `custom magic 0x${hex32(magic)}`,
    revision ? `revision 0x${hex32(revision.code).replace(/^0+/, '')} (${revision.name})` : 'no known board revision',
    macMatches ? 'MAC bytes match' : 'MAC bytes do not match',
  ]
  return { format: 'rpi', revision, serial, macMatches, how: `option 97: ${parts.join(', ')}` }
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, '0')
}

/**
 * Option 97 as a Pi 4/5 EEPROM since 2020-03 sends it (the inverse of decodeClientMachineId): type 0,
 * the "RPi4" magic, the board revision, the low 4 MAC bytes in wire order, the serial's low 32 bits.
 */
export function encodeClientMachineId(revision: number, mac: string, serial: string): Buffer {
  const payload = Buffer.alloc(17)
  payload.writeUInt32LE(RPI4_MAGIC, 1)
  payload.writeUInt32LE(revision >>> 0, 5)
  Buffer.from(mac.split(/[:-]/).slice(2).map((h) => Number.parseInt(h, 16))).copy(payload, 9)
  payload.writeUInt32LE(Number.parseInt(serial.slice(-8), 16) >>> 0, 13)
  return payload
}
