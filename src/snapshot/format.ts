/**
 * A diff for people (one line per path, then a summary) and for programs (JSON).
 *
 *   + /etc/motd (file 0644 0:0)
 *   - /etc/rc.local
 *   ~ /usr/bin/ping: mode 4755 -> 0755, xattrs -security.capability
 *   1 added, 1 removed, 1 changed
 */
import { comparePaths, type Change, type Diff, type Entry, type FieldChange } from './types.ts'

const NONE = '(none)'

export function formatDiff(diff: Diff): string {
  const changes = [...diff.added, ...diff.removed, ...diff.changed].sort((a, b) => comparePaths(a.path, b.path))
  const summary = `${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed`
  return [...changes.map(formatChange), summary].join('\n')
}

export function diffToJson(diff: Diff): string {
  return JSON.stringify(diff, null, 2)
}

function formatChange(change: Change): string {
  const path = showText(change.path)
  if (change.kind === 'removed') return `- ${path}`
  if (change.kind === 'added') return `+ ${path}${change.after ? ` (${describeEntry(change.after)})` : ''}`
  return `~ ${path}: ${(change.fields ?? []).map(formatField).join(', ')}`
}

/** `file 0644 0:0`, `symlink 0777 0:0 -> ../lib`, `char 0666 0:0 1,3`. */
export function describeEntry(entry: Entry): string {
  const words = [entry.type, octal(entry.mode), `${entry.uid}:${entry.gid}`]
  if (entry.target !== undefined) words.push('->', showText(entry.target))
  if (entry.rdev) words.push(device(entry.rdev))
  return words.join(' ')
}

function formatField({ field, before, after }: FieldChange): string {
  if (field === 'xattrs') return `xattrs ${xattrChanges(asRecord(before), asRecord(after))}`
  return `${field} ${showValue(field, before)} -> ${showValue(field, after)}`
}

function showValue(field: string, value: unknown): string {
  if (value === undefined) return NONE
  if (field === 'mode') return octal(value as number)
  if (field === 'sha256') return `${String(value).slice(0, 12)}…`
  if (field === 'rdev') return device(value as { major: number; minor: number })
  if (field === 'mtime') return new Date((value as number) * 1000).toISOString().replace('.000Z', 'Z')
  return typeof value === 'string' ? showText(value) : String(value)
}

/** `+user.new, -security.capability, ~user.changed` (values are in the JSON form). */
function xattrChanges(before: Record<string, string>, after: Record<string, string>): string {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort(comparePaths)
  return names
    .filter((name) => before[name] !== after[name])
    .map((name) => `${before[name] === undefined ? '+' : after[name] === undefined ? '-' : '~'}${showText(name)}`)
    .join(' ')
}

function asRecord(value: unknown): Record<string, string> {
  return typeof value === 'object' && value !== null ? (value as Record<string, string>) : {}
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0')
}

function device({ major, minor }: { major: number; minor: number }): string {
  return `${major},${minor}`
}

/** Names with spaces or control characters are quoted (JSON style) so every change stays on one line. */
function showText(text: string): string {
  return text !== '' && /^[^\s\p{Cc}"]+$/u.test(text) ? text : JSON.stringify(text)
}
