/**
 * The SPDX 2.3 JSON document of a build (written against the published schema: spdx-spec's
 * schemas/spdx-schema-2-3.json; the tests validate it): the build as the package the document
 * describes, generated from the image and the recipe's files, containing every Debian package.
 */
import type { SbomData, SbomPackage } from './collect.ts'
import { compare } from './dpkg.ts'
import { debPurl, stableUuid } from './purl.ts'

const NOASSERTION = 'NOASSERTION'

export function spdxDocument(data: SbomData): Record<string, unknown> {
  const build = 'SPDXRef-build'
  const image = 'SPDXRef-image'
  const refs = new Map<string, string>()
  const packages = data.packages.map((pkg) => {
    for (const [id, name] of pkg.license?.refs ?? []) refs.set(id, name)
    return debPackage(pkg, data)
  })
  const files = data.provenance.files.map((file, index) => ({
    SPDXID: `SPDXRef-file-${index + 1}`,
    fileName: `./${file.path}`,
    checksums: [
      { algorithm: 'SHA1', checksumValue: file.sha1 },
      { algorithm: 'SHA256', checksumValue: file.sha256 },
    ],
    licenseConcluded: NOASSERTION,
    copyrightText: NOASSERTION,
    comment: file.role === 'recipe' ? 'the recipe' : `brought into the image by the recipe (${file.role})`,
  }))
  const body = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `pibake build of ${data.recipe} (${data.key.slice(0, 8)})`,
    creationInfo: { created: data.created, creators: [`Tool: pibake-${data.pibake}`] },
    documentDescribes: [build],
    packages: [
      {
        SPDXID: build,
        name: data.recipe,
        versionInfo: data.key,
        downloadLocation: NOASSERTION,
        filesAnalyzed: false,
        primaryPackagePurpose: 'OPERATING_SYSTEM',
        licenseConcluded: NOASSERTION,
        licenseDeclared: NOASSERTION,
        copyrightText: NOASSERTION,
        comment: `root filesystem built by pibake ${data.pibake} from recipe ${data.recipe}; versionInfo is the build's content key (its build id ends with the first 8 digits)`,
      },
      {
        SPDXID: image,
        name: data.provenance.image.name,
        packageFileName: data.provenance.image.name,
        downloadLocation: NOASSERTION,
        filesAnalyzed: false,
        primaryPackagePurpose: 'OPERATING_SYSTEM',
        checksums: [{ algorithm: 'SHA256', checksumValue: data.provenance.image.sha256 }],
        licenseConcluded: NOASSERTION,
        licenseDeclared: NOASSERTION,
        copyrightText: NOASSERTION,
        comment: 'the Raspberry Pi OS image the build starts from',
      },
      ...packages,
    ],
    ...(files.length ? { files } : {}),
    ...(refs.size
      ? { hasExtractedLicensingInfos: [...refs].sort(([a], [b]) => compare(a, b)).map(([licenseId, name]) => ({ licenseId, name, extractedText: `The license Debian's machine-readable copyright files name "${name}"; its text is in /usr/share/doc/<package>/copyright of the packages that name it.` })) }
      : {}),
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: build },
      { spdxElementId: build, relationshipType: 'GENERATED_FROM', relatedSpdxElement: image },
      ...files.map((file) => ({ spdxElementId: build, relationshipType: 'GENERATED_FROM', relatedSpdxElement: file.SPDXID })),
      ...packages.map((pkg) => ({ spdxElementId: build, relationshipType: 'CONTAINS', relatedSpdxElement: pkg.SPDXID })),
    ],
  }
  // The namespace names this very content: the same build gives the same document.
  return { ...body, documentNamespace: `urn:uuid:${stableUuid(JSON.stringify(body))}` }
}

function debPackage(pkg: SbomPackage, data: SbomData) {
  return {
    SPDXID: spdxId(pkg),
    name: pkg.name,
    versionInfo: pkg.version,
    ...(pkg.maintainer ? { supplier: agent(pkg.maintainer) } : {}),
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    ...(pkg.homepage ? { homepage: pkg.homepage } : {}),
    sourceInfo: `built from the Debian source package ${pkg.source.name} ${pkg.source.version}`,
    ...(pkg.deb ? { packageFileName: pkg.deb.file, checksums: [{ algorithm: 'SHA256', checksumValue: pkg.deb.sha256 }] } : {}),
    licenseConcluded: NOASSERTION,
    licenseDeclared: pkg.license?.expression ?? NOASSERTION,
    copyrightText: NOASSERTION,
    primaryPackagePurpose: 'LIBRARY',
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: debPurl(pkg, data.distro) }],
    comment: `architecture ${pkg.arch}`,
  }
}

/** `SPDXRef-deb-bash-arm64`: letters, digits, `.` and `-` only (`+`, never in a Debian name's lower case, as `P`). */
function spdxId(pkg: SbomPackage): string {
  return `SPDXRef-deb-${pkg.name.replace(/\+/g, 'P')}-${pkg.arch}`
}

/** `Name <address>` as SPDX's agent syntax: `Organization: Name (address)`. */
function agent(maintainer: string): string {
  const match = /^(.*?)\s*<([^>]*)>\s*$/.exec(maintainer)
  return match ? `Organization: ${match[1]} (${match[2]})` : `Organization: ${maintainer}`
}
