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

/**
 * Checks `data` against the schema; returns the snapshot, or a list of problems (`entries[3].mode: …`).
 * A snapshot as pibake writes it passes `isPlainSnapshot`, a check of the same rules written out
 * (a tenth of what the schema costs on a root filesystem's tens of thousands of entries); anything
 * else, an extra field included, goes through the schema, which says what is wrong.
 */
export function checkSnapshot(data: unknown): { snapshot: Snapshot } | { problems: string[] } {
  let snapshot: Snapshot
  if (isPlainSnapshot(data)) snapshot = data
  else {
    const result = snapshotSchema.safeParse(data)
    if (!result.success) return { problems: result.error.issues.map((issue) => `${issuePath(issue.path)}: ${issue.message}`) }
    snapshot = result.data
  }
  const seen = new Set<string>()
  const duplicates = snapshot.entries.filter(({ path }) => seen.has(path) || !seen.add(path))
  if (duplicates.length) return { problems: duplicates.map(({ path }) => `entries: ${path} appears more than once`) }
  return { snapshot }
}

const TOP_FIELDS = new Set(['format', 'version', 'source', 'taken', 'entries'])
const ENTRY_FIELDS = new Set(['path', 'type', 'mode', 'uid', 'gid', 'size', 'sha256', 'target', 'rdev', 'xattrs', 'hardlink', 'mtime'])
const TYPES = new Set(['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket'])
const SHA256 = /^[0-9a-f]{64}$/
const HEX = /^(?:[0-9a-f]{2})*$/

/** The schema's rules, written out: true only for what the schema takes as it is (no field it would drop). */
export function isPlainSnapshot(data: unknown): data is Snapshot {
  if (!isObject(data) || !onlyFields(data, TOP_FIELDS)) return false
  if (data.format !== 'pibake-snapshot' || data.version !== 1 || typeof data.source !== 'string' || typeof data.taken !== 'string') return false
  return Array.isArray(data.entries) && data.entries.every(isPlainEntry)
}

function isPlainEntry(entry: unknown): boolean {
  if (!isObject(entry) || !onlyFields(entry, ENTRY_FIELDS)) return false
  const { path, type, mode, uid, gid, size, sha256, target, rdev, xattrs, hardlink, mtime } = entry
  return (
    typeof path === 'string' && path.startsWith('/') &&
    typeof type === 'string' && TYPES.has(type) &&
    isWhole(mode) && mode <= 0o7777 && isWhole(uid) && isWhole(gid) &&
    (size === undefined || isWhole(size)) &&
    (sha256 === undefined || (typeof sha256 === 'string' && SHA256.test(sha256))) &&
    (target === undefined || typeof target === 'string') &&
    (rdev === undefined || (isObject(rdev) && onlyFields(rdev, DEVICE_FIELDS) && isWhole(rdev.major) && isWhole(rdev.minor))) &&
    (xattrs === undefined || (isObject(xattrs) && Object.values(xattrs).every((value) => typeof value === 'string' && HEX.test(value)))) &&
    (hardlink === undefined || (typeof hardlink === 'string' && hardlink.startsWith('/'))) &&
    Number.isSafeInteger(mtime)
  )
}

const DEVICE_FIELDS = new Set(['major', 'minor'])

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype
}

function onlyFields(value: Record<string, unknown>, fields: ReadonlySet<string>): boolean {
  for (const key in value) if (!fields.has(key)) return false
  return true
}

function isWhole(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

function issuePath(path: readonly PropertyKey[]): string {
  return path.map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index ? '.' : ''}${String(key)}`)).join('') || '(top level)'
}
