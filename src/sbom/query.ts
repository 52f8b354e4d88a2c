/**
 * Which builds of a site contain a package, at which version, and which nodes boot them: read from
 * each build's CycloneDX SBOM where the build is (locally or over SSH).
 */
import { buildId } from '../site/names.ts'
import { buildRoot } from '../site/paths.ts'
import { treePaths } from '../site/record.ts'
import { siteStatus } from '../site/status.ts'
import { readSite, treeFiles, type Site } from '../site/store.ts'
import { CDX_PROPERTIES } from './cyclonedx.ts'
import { compare } from './dpkg.ts'
import { SBOM_SUFFIX } from './files.ts'

export interface PackageInBuild {
  readonly recipe: string
  readonly build: string
  readonly live: boolean
  readonly package: string
  readonly version: string
  readonly arch: string
  readonly source: string
  readonly sourceVersion: string
  /** Host names of the nodes whose boot link points at this build now. */
  readonly nodes: readonly string[]
}

export interface PackageQuery {
  readonly package: string
  readonly builds: readonly PackageInBuild[]
  /** Builds whose SBOM could not be read (published before pibake wrote them, or damaged): the answer does not cover them. */
  readonly unknown: readonly { readonly recipe: string; readonly build: string; readonly why: string }[]
}

export async function findPackage(site: Site, name: string): Promise<PackageQuery> {
  const status = await siteStatus(site)
  const builds: PackageInBuild[] = []
  const unknown: { recipe: string; build: string; why: string }[] = []
  const booting = new Map<string, string[]>()
  for (const recipe of status.recipes) {
    for (const node of recipe.nodes) if (node.boots) booting.set(`${node.boots.recipe}/${node.boots.build}`, [...(booting.get(`${node.boots.recipe}/${node.boots.build}`) ?? []), node.hostname])
  }
  for (const record of await readSite(site)) {
    const files = treeFiles(site, record, 'nfs')
    for (const build of record.builds) {
      const id = buildId(build.id, `the site record of ${record.recipe}`)
      const file = `${buildRoot(treePaths(record), record.recipe, id)}${SBOM_SUFFIX.cyclonedx}`
      const components = parseComponents(await files.readText(file))
      if (typeof components === 'string') {
        unknown.push({ recipe: record.recipe, build: id, why: components })
        continue
      }
      for (const c of components.filter((c) => c.name === name)) {
        builds.push({ recipe: record.recipe, build: id, live: record.live === id, package: c.name, version: c.version, arch: c.properties[CDX_PROPERTIES.arch] ?? '', source: c.properties[CDX_PROPERTIES.source] ?? '', sourceVersion: c.properties[CDX_PROPERTIES.sourceVersion] ?? '', nodes: (booting.get(`${record.recipe}/${id}`) ?? []).sort(compare) })
      }
    }
  }
  builds.sort((a, b) => compare(a.recipe, b.recipe) || compare(a.build, b.build) || compare(a.arch, b.arch))
  return { package: name, builds, unknown }
}

interface DebComponent {
  readonly name: string
  readonly version: string
  readonly properties: Readonly<Record<string, string>>
}

/** The Debian packages of a CycloneDX document read from a server (checked field by field), or why there are none. */
function parseComponents(text: string | undefined): DebComponent[] | string {
  if (text === undefined) return 'no SBOM beside the build'
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return 'its SBOM is not JSON'
  }
  const components = (value as { components?: unknown } | null)?.components
  if (!Array.isArray(components)) return 'its SBOM lists no components'
  return components.flatMap((c: unknown): DebComponent[] => {
    const { name, version, purl, properties } = (c ?? {}) as Record<string, unknown>
    if (typeof name !== 'string' || typeof version !== 'string' || typeof purl !== 'string' || !purl.startsWith('pkg:deb/')) return []
    const props: Record<string, string> = {}
    for (const p of Array.isArray(properties) ? properties : []) {
      const { name: key, value: v } = (p ?? {}) as Record<string, unknown>
      if (typeof key === 'string' && typeof v === 'string') props[key] = v
    }
    return [{ name, version, properties: props }]
  })
}
