/** A build's SBOMs beside its record: `<nfs>/<recipe>/builds/<id>.spdx.json` and `<id>.cdx.json`. */

export const SBOM_FORMATS = ['spdx', 'cyclonedx'] as const
export type SbomFormat = (typeof SBOM_FORMATS)[number]

/** What each format's file name ends with, after the build id. */
export const SBOM_SUFFIX: Readonly<Record<SbomFormat, string>> = { spdx: '.spdx.json', cyclonedx: '.cdx.json' }

/** Each format's media type, as a server sends it. */
export const SBOM_MEDIA_TYPE: Readonly<Record<SbomFormat, string>> = { spdx: 'application/spdx+json', cyclonedx: 'application/vnd.cyclonedx+json' }

export function isSbomFormat(text: unknown): text is SbomFormat {
  return typeof text === 'string' && (SBOM_FORMATS as readonly string[]).includes(text)
}

/** The two documents, as published. */
export type BuildSboms = Readonly<Record<SbomFormat, string>>
