/**
 * Moving a node entry between two recipe files as an administrator would by hand: the object
 * literal that holds `mac: '<mac>'` is cut out of one recipe's source, exactly as written (its
 * cmdline and config lines, its comments), and put after the last node of the other. A node the
 * source does not show as such a literal (made by code, imported from elsewhere) is not moved:
 * the caller says how to do it by hand.
 */

export interface Span {
  /** Offset of the entry's `{`. */
  readonly start: number
  /** Offset just after its `}`. */
  readonly end: number
}

/** The object literal holding the string literal `mac` (any case) as its `mac:` field; undefined unless exactly one. */
export function findNodeEntry(source: string, mac: string): Span | undefined {
  const found: Span[] = []
  const open: { start: number; holds: boolean }[] = []
  const wanted = mac.toLowerCase()
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!
    if (c === '/' && source[i + 1] === '/') i = lineEnd(source, i)
    else if (c === '/' && source[i + 1] === '*') i = source.indexOf('*/', i + 2) < 0 ? source.length : source.indexOf('*/', i + 2) + 1
    else if (c === "'" || c === '"' || c === '`') {
      const end = stringEnd(source, i)
      const text = source.slice(i + 1, end)
      if (text.toLowerCase() === wanted && /\bmac\s*:\s*$/.test(source.slice(Math.max(0, i - 40), i)) && open.length) open.at(-1)!.holds = true
      i = end
    } else if (c === '{') open.push({ start: i, holds: false })
    else if (c === '}') {
      const entry = open.pop()
      if (entry?.holds) found.push({ start: entry.start, end: i + 1 })
    }
  }
  return found.length === 1 ? found[0] : undefined
}

/** The source without the entry, its comma and, when it had the line to itself, its line. */
export function removeEntry(source: string, span: Span): string {
  let end = span.end
  let start = span.start
  const after = /^[ \t]*,/.exec(source.slice(end))
  if (after) end += after[0].length
  else {
    const before = /,\s*$/.exec(source.slice(0, start))
    if (before) start -= before[0].length
  }
  const lineStart = source.lastIndexOf('\n', start - 1) + 1
  const rest = /^[ \t]*(\/\/[^\n]*)?\n/.exec(source.slice(end))
  if (!source.slice(lineStart, start).trim() && rest && !rest[1]) return source.slice(0, lineStart) + source.slice(end + rest[0].length)
  return source.slice(0, start) + source.slice(end)
}

/** The source with `entry` (an object literal's text) added after the entry at `after`, on its own line, indented alike. */
export function insertEntryAfter(source: string, after: Span, entry: string): string {
  const lineStart = source.lastIndexOf('\n', after.start - 1) + 1
  const indent = /^[ \t]*/.exec(source.slice(lineStart))![0]
  return `${source.slice(0, after.end)},\n${indent}${entry}${source.slice(after.end)}`
}

function lineEnd(source: string, i: number): number {
  const end = source.indexOf('\n', i)
  return end < 0 ? source.length : end
}

/** The offset of the quote closing the string that opens at `i` (template literals without nesting). */
function stringEnd(source: string, i: number): number {
  const quote = source[i]
  for (let j = i + 1; j < source.length; j++) {
    if (source[j] === '\\') j++
    else if (source[j] === quote) return j
    else if (source[j] === '\n' && quote !== '`') return j
  }
  return source.length
}
