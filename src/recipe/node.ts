/**
 * The rules for one node's identity: MAC address, board serial, host name and model. Each parser
 * returns the normalised value, or undefined (or the reason) when the text is not acceptable.
 */
import { NETBOOT_MODELS, type NetbootModel } from './types.ts'
import { suggest } from './suggest.ts'

/** `dc:a6:32:01:02:03` from `DC-A6-32-01-02-03`, `dc:a6:32:01:02:03`…; undefined if not a MAC. */
export function normalizeMac(text: string): string | undefined {
  if (!/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(text)) return undefined
  return text.toLowerCase().replaceAll('-', ':')
}

/** The name dnsmasq's `tftp-unique-root=mac` gives a client's TFTP folder: `dc-a6-32-01-02-03`. */
export function macToDashed(mac: string): string {
  const normal = normalizeMac(mac)
  if (normal === undefined) throw new TypeError(`${JSON.stringify(mac)} is not a MAC address`)
  return normal.replaceAll(':', '-')
}

/** A board serial (8 or 16 hex digits) in lower case; undefined if it is not one. */
export function normalizeSerial(text: string): string | undefined {
  return /^([0-9a-f]{8}|[0-9a-f]{16})$/i.test(text) ? text.toLowerCase() : undefined
}

/** The 8 hex digits the boot ROM uses as the TFTP prefix (a 16-digit serial's low half). */
export function serialPrefix(serial: string): string {
  return serial.slice(-8).toLowerCase()
}

/** One RFC 1123 label in lower case: what a node may be called. */
export function isNodeHostname(text: string): boolean {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(text)
}

/** Why the models that exist but cannot boot from the network can't. */
const CANNOT_NETBOOT: Record<string, string> = {
  'Zero 2 W': 'it has no network boot support; it can only boot over USB from a host',
  '3A+': 'it has no Ethernet port and no network boot support; it can only boot over USB from a host',
}

/** The model if it can netboot, otherwise a sentence saying why not and what to use instead. */
export function parseModel(text: string): { model: NetbootModel } | { problem: string } {
  const model = NETBOOT_MODELS.find((m) => m === text)
  if (model) return { model }
  const refused = Object.keys(CANNOT_NETBOOT).find((m) => compactModel(m) === compactModel(text))
  if (refused) {
    return { problem: `a Raspberry Pi ${refused} cannot boot from the network (${CANNOT_NETBOOT[refused]}), use a ${listModels(' or ')}` }
  }
  const guess = suggest(text, NETBOOT_MODELS, compactModel)
  const didYouMean = guess ? `did you mean "${guess}"? ` : ''
  return { problem: `${JSON.stringify(text)} is not a Raspberry Pi model pibake knows (${didYouMean}use one of ${listModels(', ')})` }
}

function listModels(lastJoin: string): string {
  return `${NETBOOT_MODELS.slice(0, -1).join(', ')}${lastJoin}${NETBOOT_MODELS.at(-1)}`
}

/** `Raspberry Pi 4 B` and `pi4b` both compare as `4b`. */
function compactModel(text: string): string {
  return text.toLowerCase().replace(/raspberry|\bpi|\s/g, '')
}
