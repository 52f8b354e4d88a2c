/**
 * What `<id>.json` says of a build's provenance, beside the fields publish always writes: the
 * stored snapshot's name and digest, and whether the record is signed. Read back from a server,
 * the record is hostile: it is parsed with a schema, and the names in it must be the ones pibake
 * would give that build.
 */
import { createHash } from 'node:crypto'
import * as z from 'zod'
import { PibakeError } from '../errors.ts'
import { buildSignatureName, buildSnapshotName } from '../site/names.ts'

/** The namespace of pibake's signatures (`ssh-keygen -Y sign -n`): a signature made for anything else never passes. */
export const SIGNATURE_NAMESPACE = 'pibake-build'

/** The fields publish adds to `<id>.json`. */
export interface ProvenanceFields {
  readonly snapshot: {
    /** `<id>.snapshot.json`, beside `<id>.json`. */
    readonly file: string
    /** SHA-256 of the file's bytes, lowercase hex. */
    readonly sha256: string
    readonly entries: number
  }
}

const recordSchema = z.object({
  id: z.string(),
  recipe: z.string(),
  snapshot: z
    .object({
      file: z.string(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits'),
      entries: z.number().int().nonnegative(),
    })
    .optional(),
})

export interface ReadRecord {
  readonly snapshot: ProvenanceFields['snapshot'] | undefined
}

/**
 * `text` (a build's `<id>.json`, as the server gave it) checked: JSON, the id and recipe it
 * should name, and a snapshot named as pibake names it. `where` names the file in errors.
 */
export function parseBuildRecord(text: string, expected: { id: string; recipe: string }, where: string): ReadRecord {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw damaged(where, `it is not JSON (${(error as Error).message})`)
  }
  const parsed = recordSchema.safeParse(value)
  if (!parsed.success) throw damaged(where, parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; '))
  const record = parsed.data
  if (record.id !== expected.id) throw damaged(where, `its id is ${JSON.stringify(record.id)}, not ${expected.id}`)
  if (record.recipe !== expected.recipe) throw damaged(where, `its recipe is ${JSON.stringify(record.recipe)}, not ${expected.recipe}`)
  if (record.snapshot && record.snapshot.file !== buildSnapshotName(expected.id)) {
    throw damaged(where, `its snapshot is ${JSON.stringify(record.snapshot.file)}, not ${buildSnapshotName(expected.id)}`)
  }
  return { snapshot: record.snapshot }
}

export function sha256Text(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

export { buildSignatureName, buildSnapshotName }

function damaged(where: string, why: string): PibakeError {
  return new PibakeError(`${where} is not a build record as pibake writes it: ${why}`, 'someone changed it on the server: publish the recipe again (pibake build --from publish) and find out who can write there')
}
