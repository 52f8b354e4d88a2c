/**
 * IPv4 arithmetic for the recipe checks: addresses as unsigned 32-bit numbers, netmasks as
 * prefix lengths.
 */

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

/** The address as an unsigned 32-bit number, or undefined when `text` is not a dotted quad. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4 || !parts.every((part) => OCTET.test(part))) return undefined
  return parts.reduce((n, part) => n * 256 + Number(part), 0)
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.')
}

/** The prefix length of a netmask such as `255.255.255.0` (24), or undefined when it is not one. */
export function netmaskBits(text: string): number | undefined {
  const mask = parseIPv4(text)
  if (mask === undefined) return undefined
  for (let bits = 0; bits <= 32; bits++) {
    if (maskOf(bits) === mask) return bits
  }
  return undefined
}

function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
}

/** The network address of `ip` in a subnet of `bits` bits. */
export function networkOf(ip: number, bits: number): number {
  return (ip & maskOf(bits)) >>> 0
}

/** `192.168.1.0/24`, the subnet `ip` is in. */
export function subnetLabel(ip: number, bits: number): string {
  return `${formatIPv4(networkOf(ip, bits))}/${bits}`
}

/** A host name made of RFC 1123 labels (`nfs.lab.example`), any case. */
export function isHostName(text: string): boolean {
  return text.length <= 253 && text.split('.').every((label) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(label))
}
