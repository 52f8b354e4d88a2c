/**
 * Debian's control-file syntax (RFC 822-like paragraphs), as dpkg's status database and machine-
 * readable copyright files use it: paragraphs apart by blank lines, `Field: value`, continuation
 * lines indented. Field names are matched case-insensitively, as Debian Policy says.
 */

/** One paragraph: field names lower-cased, each value with its continuation lines (unindented, `\n`-joined). */
export type Paragraph = ReadonlyMap<string, string>

export function parseParagraphs(text: string): Paragraph[] {
  const paragraphs: Paragraph[] = []
  let fields = new Map<string, string>()
  let last: string | undefined
  const end = () => {
    if (fields.size) paragraphs.push(fields)
    fields = new Map()
    last = undefined
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) end()
    else if (/^[ \t]/.test(line)) {
      if (last !== undefined) fields.set(last, `${fields.get(last)}\n${line.trim()}`)
    } else if (!line.startsWith('#')) {
      const colon = line.indexOf(':')
      if (colon <= 0) continue
      last = line.slice(0, colon).toLowerCase()
      fields.set(last, line.slice(colon + 1).trim())
    }
  }
  end()
  return paragraphs
}
