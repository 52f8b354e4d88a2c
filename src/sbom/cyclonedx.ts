/**
 * The CycloneDX 1.6 JSON document of a build, made and serialised with the OWASP CycloneDX library
 * (@cyclonedx/cyclonedx-library: its models, its normaliser for spec 1.6, lists sorted), which ships
 * the official JSON schemas the tests validate against.
 */
import { Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library'
import { isSupportedSpdxId } from '@cyclonedx/cyclonedx-library/SPDX'
import type { SbomData, SbomPackage } from './collect.ts'
import { debPurl, stableUuid } from './purl.ts'

/** The property names pibake adds (CycloneDX's property taxonomy lets a tool use its own namespace). */
export const CDX_PROPERTIES = {
  arch: 'pibake:deb:arch',
  source: 'pibake:deb:source',
  sourceVersion: 'pibake:deb:source-version',
  debFile: 'pibake:deb:file',
  role: 'pibake:file:role',
} as const

export function cyclonedxDocument(data: SbomData): string {
  const build = new Models.Component(Enums.ComponentType.OperatingSystem, data.recipe, {
    bomRef: 'build',
    version: data.key,
    description: `root filesystem built by pibake ${data.pibake} from recipe ${data.recipe}; version is the build's content key (its build id ends with the first 8 digits)`,
  })
  const bom = new Models.Bom({
    metadata: new Models.Metadata({
      timestamp: new Date(data.created),
      component: build,
      tools: new Models.Tools({ components: new Models.ComponentRepository([new Models.Component(Enums.ComponentType.Application, 'pibake', { version: data.pibake })]) }),
    }),
  })
  const image = new Models.Component(Enums.ComponentType.File, data.provenance.image.name, {
    bomRef: 'image',
    description: 'the Raspberry Pi OS image the build starts from',
    hashes: new Models.HashDictionary([[Enums.HashAlgorithm['SHA-256'], data.provenance.image.sha256]]),
  })
  bom.components.add(image)
  build.dependencies.add(image.bomRef)
  for (const file of data.provenance.files) {
    const component = new Models.Component(Enums.ComponentType.File, file.path, {
      bomRef: `file:${file.path}`,
      hashes: new Models.HashDictionary([[Enums.HashAlgorithm['SHA-1'], file.sha1], [Enums.HashAlgorithm['SHA-256'], file.sha256]]),
      properties: new Models.PropertyRepository([new Models.Property(CDX_PROPERTIES.role, file.role)]),
    })
    bom.components.add(component)
    build.dependencies.add(component.bomRef)
  }
  for (const pkg of data.packages) {
    const component = debComponent(pkg, data)
    bom.components.add(component)
    build.dependencies.add(component.bomRef)
  }
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6))
  // The serial number names this very content: the same build gives the same document.
  bom.serialNumber = `urn:uuid:${stableUuid(serializer.serialize(bom, { sortLists: true }))}`
  return `${serializer.serialize(bom, { sortLists: true, space: 2 })}\n`
}

function debComponent(pkg: SbomPackage, data: SbomData): Models.Component {
  const purl = debPurl(pkg, data.distro)
  const properties = [
    new Models.Property(CDX_PROPERTIES.arch, pkg.arch),
    new Models.Property(CDX_PROPERTIES.source, pkg.source.name),
    new Models.Property(CDX_PROPERTIES.sourceVersion, pkg.source.version),
    ...(pkg.deb ? [new Models.Property(CDX_PROPERTIES.debFile, pkg.deb.file)] : []),
  ]
  return new Models.Component(Enums.ComponentType.Library, pkg.name, {
    bomRef: purl,
    version: pkg.version,
    purl,
    ...(pkg.maintainer ? { supplier: new Models.OrganizationalEntity({ name: pkg.maintainer }) } : {}),
    ...(pkg.deb ? { hashes: new Models.HashDictionary([[Enums.HashAlgorithm['SHA-256'], pkg.deb.sha256]]) } : {}),
    ...(pkg.license ? { licenses: new Models.LicenseRepository([license(pkg.license.expression)]) } : {}),
    ...(pkg.homepage ? { externalReferences: new Models.ExternalReferenceRepository([new Models.ExternalReference(pkg.homepage, Enums.ExternalReferenceType.Website)]) } : {}),
    properties: new Models.PropertyRepository(properties),
  })
}

/** One SPDX id as a license of its own, anything else as an expression. */
function license(expression: string): Models.License {
  return isSupportedSpdxId(expression) ? new Models.SpdxLicense(expression) : new Models.LicenseExpression(expression)
}
