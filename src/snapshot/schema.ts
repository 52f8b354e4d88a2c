/** The shape of a saved snapshot, checked when one is read back. */
import * as z from 'zod'
import type { Snapshot } from './types.ts'

const whole = z.number().int().nonnegative()
const hex = z.string().regex(/^(?:[0-9a-f]{2})*$/, 'expected lowercase hex bytes')

const entrySchema = z.object({
  path: z.string().regex(/^\//, 'expected an absolute path'),
  type: z.enum(['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket']),
  mode: whole.max(0o7777),
  uid: whole,
  gid: whole,
  size: whole.optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits').optional(),
  target: z.string().optional(),
  rdev: z.object({ major: whole, minor: whole }).optional(),
  xattrs: z.record(z.string(), hex).optional(),
  hardlink: z.string().regex(/^\//, 'expected an absolute path').optional(),
  mtime: z.number().int(),
})

export const snapshotSchema = z.object({
  format: z.literal('pibake-snapshot'),
  version: z.literal(1),
  source: z.string(),
  taken: z.string(),
  entries: z.array(entrySchema),
})

/** Checks `data` against the schema; returns the snapshot, or a list of problems (`entries[3].mode: …`). */
export function checkSnapshot(data: unknown): { snapshot: Snapshot } | { problems: string[] } {
  const result = snapshotSchema.safeParse(data)
  if (!result.success) return { problems: result.error.issues.map((issue) => `${issuePath(issue.path)}: ${issue.message}`) }
  const seen = new Set<string>()
  const duplicates = result.data.entries.filter(({ path }) => seen.has(path) || !seen.add(path))
  if (duplicates.length) return { problems: duplicates.map(({ path }) => `entries: ${path} appears more than once`) }
  return { snapshot: result.data }
}

function issuePath(path: readonly PropertyKey[]): string {
  return path.map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index ? '.' : ''}${String(key)}`)).join('') || '(top level)'
}
