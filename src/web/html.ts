/**
 * HTML built from template literals, every interpolated value escaped unless it is already HTML.
 * Synchronous and framework-free, so that the server's pages and `pibake report`'s file are made by
 * the same functions.
 */
export class Html {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
  toString(): string {
    return this.text
  }
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[]

/** `h\`<td>${name}</td>\``: strings and numbers escaped, Html kept, arrays joined, null/false/undefined empty. */
export function h(strings: TemplateStringsArray, ...values: readonly Value[]): Html {
  let text = strings[0]!
  values.forEach((value, index) => {
    text += render(value) + strings[index + 1]!
  })
  return new Html(text)
}

function render(value: Value): string {
  if (value === null || value === undefined || value === false || value === true) return ''
  if (value instanceof Html) return value.text
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(String(value))
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** Text already known to be safe HTML (a style sheet, a script of our own). */
export function raw(text: string): Html {
  return new Html(text)
}

/** `2026-11-30 21:10`: a stored ISO time, short, in UTC as the records keep it. */
export function shortTime(iso: string | undefined): string {
  return iso ? `${iso.replace('T', ' ').slice(0, 16)} UTC` : '—'
}
