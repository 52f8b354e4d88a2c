/**
 * An SBOM's content, whatever its format: the build's packages (from its own dpkg database, each with
 * its license where its copyright file is machine-readable and its .deb's sha256 where apt's cache
 * in `<out>/cache/apt/<arch>/archives/` holds that very file), the distribution, and what the build
 * was made from.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { resolveInRoot } from '../system/inroot.ts'
import { sha256File } from '../system/walk.ts'
import { parseParagraphs } from './control.ts'
import { installedPackages, type DebPackage } from './dpkg.ts'
import { copyrightLicenses, packageLicense, type PackageLicense } from './licenses.ts'
import type { Provenance } from './provenance.ts'

export interface SbomPackage extends DebPackage {
  readonly license?: PackageLicense
  /** The .deb apt installed it from, when the cache still holds it. */
  readonly deb?: { readonly file: string; readonly sha256: string }
}

export interface SbomData {
  readonly recipe: string
  /** The build's content key (a build id ends with its first 8 digits). */
  readonly key: string
  /** UTC, to the second: the build's SOURCE_DATE_EPOCH (see repro/epoch.ts). */
  readonly created: string
  readonly pibake: string
  /** From the root's os-release: `debian`, `12`, `bookworm`. */
  readonly distro: { readonly id: string; readonly versionId?: string; readonly codename?: string }
  readonly provenance: Provenance
  readonly packages: readonly SbomPackage[]
}

export interface CollectOptions {
  readonly recipe: string
  readonly key: string
  readonly pibake: string
  readonly provenance: Provenance
  /** apt's cache of .deb files for the build's architecture, if any. */
  readonly archives?: string
  /** The document's creation time: the build's SOURCE_DATE_EPOCH, in seconds. */
  readonly created: number
}

export async function collectSbom(root: string, options: CollectOptions): Promise<SbomData> {
  const packages = await installedPackages(root)
  const debs = await cachedDebs(options.archives, packages)
  const withLicenses = await Promise.all(
    packages.map(async (pkg): Promise<SbomPackage> => {
      const license = await readLicense(root, pkg.name)
      const deb = debs.get(debName(pkg))
      return { ...pkg, ...(license ? { license } : {}), ...(deb ? { deb } : {}) }
    }),
  )
  return {
    recipe: options.recipe,
    key: options.key,
    created: new Date(options.created * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    pibake: options.pibake,
    distro: await readDistro(root),
    provenance: options.provenance,
    packages: withLicenses,
  }
}

/** apt's name for a package's file: `bash_5.2.15-2+b2_arm64.deb`, an epoch's colon as `%3a`. */
export function debName(pkg: Pick<DebPackage, 'name' | 'version' | 'arch'>): string {
  return `${pkg.name}_${pkg.version.replace(/:/g, '%3a')}_${pkg.arch}.deb`
}

async function cachedDebs(archives: string | undefined, packages: readonly DebPackage[]): Promise<Map<string, { file: string; sha256: string }>> {
  const found = new Map<string, { file: string; sha256: string }>()
  if (!archives) return found
  const present = new Set(await readdir(archives).catch(() => []))
  for (const pkg of packages) {
    const file = debName(pkg)
    if (present.has(file)) found.set(file, { file, sha256: await sha256File(join(archives, file)) })
  }
  return found
}

async function readLicense(root: string, name: string): Promise<PackageLicense | undefined> {
  const file = await resolveInRoot(root, `/usr/share/doc/${name}/copyright`, { followLast: true })
  const text = await readFile(file, 'utf8').catch(() => undefined)
  const synopses = text === undefined ? undefined : copyrightLicenses(text)
  return synopses && packageLicense(synopses)
}

async function readDistro(root: string): Promise<SbomData['distro']> {
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    const text = await readFile(await resolveInRoot(root, path, { followLast: true }), 'utf8').catch(() => undefined)
    if (text === undefined) continue
    const fields = new Map(text.split('\n').flatMap((line) => {
      const match = /^([A-Z_]+)=(.*)$/.exec(line.trim())
      return match ? [[match[1]!, match[2]!.replace(/^(["'])(.*)\1$/, '$2')] as const] : []
    }))
    const versionId = fields.get('VERSION_ID')
    const codename = fields.get('VERSION_CODENAME')
    return { id: fields.get('ID') || 'debian', ...(versionId ? { versionId } : {}), ...(codename ? { codename } : {}) }
  }
  return { id: 'debian' }
}
