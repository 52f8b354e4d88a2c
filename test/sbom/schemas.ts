/**
 * The official schemas, read with no network: SPDX 2.3's vendored under test/fixtures/sbom/ (its
 * source in its `$comment`: spdx-spec's schemas/spdx-schema-2-3.json), CycloneDX 1.6's as the
 * CycloneDX library ships it (res/schema/bom-1.6.SNAPSHOT.schema.json) through its strict validator.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Spec, Validation } from '@cyclonedx/cyclonedx-library'
import { Ajv } from 'ajv'

const spdxSchema = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/sbom/spdx-schema-2.3.json'), 'utf8')) as object
const validateSpdx = new Ajv({ allErrors: true, strict: false }).compile(spdxSchema)

/** The SPDX schema's complaints about `text` (none: valid). */
export function spdxProblems(text: string): string[] {
  if (validateSpdx(JSON.parse(text))) return []
  return (validateSpdx.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
}

/** The CycloneDX 1.6 schema's complaints about `text` (none: valid). */
export async function cyclonedxProblems(text: string): Promise<string[]> {
  const error = await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(text)
  return error ? [String(JSON.stringify(error.details) ?? error.message).slice(0, 2000)] : []
}
