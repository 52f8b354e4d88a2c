/**
 * The packages a root filesystem has installed, read from its own dpkg database
 * (`/var/lib/dpkg/status`): no chroot, no dpkg of the host.
 */
import { readFile } from 'node:fs/promises'
import { PibakeError } from '../errors.ts'
import { resolveInRoot } from '../system/inroot.ts'
import { parseParagraphs } from './control.ts'

export interface DebPackage {
  readonly name: string
  readonly version: string
  /** `arm64`, `armhf` or `all`. */
  readonly arch: string
  /** The source package it was built from, and that source's version (the binary's when the status names none). */
  readonly source: { readonly name: string; readonly version: string }
  /** `Name <address>`, as the status has it. */
  readonly maintainer?: string
  readonly homepage?: string
}

export const DPKG_STATUS = '/var/lib/dpkg/status'

/** Every package the status lists as installed (`Status: … installed`), sorted by name, then architecture. */
export function parseDpkgStatus(text: string): DebPackage[] {
  const packages: DebPackage[] = []
  for (const fields of parseParagraphs(text)) {
    const name = fields.get('package')
    const version = fields.get('version')
    if (!name || !version || !/ installed$/.test(fields.get('status') ?? '')) continue
    // `Source: bash (5.2.15-2)` when the source's version differs from the binary's, `Source: bash` otherwise.
    const source = /^(\S+)(?:\s+\((\S+)\))?$/.exec(fields.get('source') ?? '')
    const maintainer = fields.get('maintainer')
    const homepage = fields.get('homepage')
    packages.push({
      name,
      version,
      arch: fields.get('architecture') ?? 'all',
      source: { name: source?.[1] ?? name, version: source?.[2] ?? version },
      ...(maintainer ? { maintainer } : {}),
      ...(homepage ? { homepage } : {}),
    })
  }
  return packages.sort((a, b) => compare(a.name, b.name) || compare(a.arch, b.arch))
}

/** The installed packages of the root tree `root`: none when it has no dpkg database (not a Debian system). */
export async function installedPackages(root: string): Promise<DebPackage[]> {
  const file = await resolveInRoot(root, DPKG_STATUS, { followLast: true })
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return ''
    throw new PibakeError(`${file}: cannot read the dpkg database (${error.code ?? error.message})`, 'check the build tree: its packages are read from there')
  })
  return parseDpkgStatus(text)
}

/** Code-point order: the same in every locale. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
