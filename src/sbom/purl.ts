/** Package URLs (purl) and stable document ids shared by both formats. */
import { createHash } from 'node:crypto'
import type { SbomData, SbomPackage } from './collect.ts'

/** `pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=arm64&distro=debian-12` (the purl spec's deb type). */
export function debPurl(pkg: SbomPackage, distro: SbomData['distro']): string {
  const qualifiers = [`arch=${encode(pkg.arch)}`, `distro=${encode(distro.versionId ? `${distro.id}-${distro.versionId}` : distro.id)}`]
  if (pkg.source.name !== pkg.name || pkg.source.version !== pkg.version) qualifiers.push(`upstream=${encode(`${pkg.source.name}@${pkg.source.version}`)}`)
  return `pkg:deb/${encode(distro.id)}/${encode(pkg.name)}@${encode(pkg.version)}?${qualifiers.join('&')}`
}

function encode(text: string): string {
  return encodeURIComponent(text).replace(/%3A/g, ':')
}

/** A UUID (version 5's layout) made from `text`'s hash: the same document always gets the same one. */
export function stableUuid(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex').slice(0, 32).split('')
  hex[12] = '5'
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)
  const h = hex.join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
