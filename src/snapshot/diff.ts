/** Compares two snapshots path by path: what was added, removed, and which fields of what changed. */
import { COMPARED_FIELDS, comparePaths, type Change, type ComparedField, type Diff, type DiffOptions, type Entry, type FieldChange, type Snapshot } from './types.ts'

export function diffSnapshots(a: Snapshot, b: Snapshot, options: DiffOptions = {}): Diff {
  const before = new Map(a.entries.map((entry) => [entry.path, entry]))
  const after = new Map(b.entries.map((entry) => [entry.path, entry]))
  const fields: readonly ComparedField[] = options.mtime ? [...COMPARED_FIELDS, 'mtime'] : COMPARED_FIELDS
  const diff: Diff = { added: [], removed: [], changed: [] }
  for (const [path, old] of before) {
    const current = after.get(path)
    if (!current) diff.removed.push({ path, kind: 'removed', before: old })
    else {
      const changes = compareEntries(old, current, fields)
      if (changes.length) diff.changed.push({ path, kind: 'changed', fields: changes, before: old, after: current })
    }
  }
  for (const [path, current] of after) {
    if (!before.has(path)) diff.added.push({ path, kind: 'added', after: current })
  }
  for (const list of [diff.added, diff.removed, diff.changed]) list.sort(byPath)
  return diff
}

/** Whether the diff holds no change at all. */
export function isEmptyDiff(diff: Diff): boolean {
  return diff.added.length + diff.removed.length + diff.changed.length === 0
}

export function compareEntries(before: Entry, after: Entry, fields: readonly ComparedField[]): FieldChange[] {
  return fields.filter((field) => !sameValue(before[field], after[field])).map((field) => ({ field, before: before[field], after: after[field] }))
}

/** Equality for entry fields: primitives, `rdev` and `xattrs` (where none and `{}` are the same). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (isRecord(a) || isRecord(b)) return sameRecord(isRecord(a) ? a : {}, isRecord(b) ? b : {})
  return false
}

function sameRecord(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key])
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

function byPath(a: Change, b: Change): number {
  return comparePaths(a.path, b.path)
}
