/**
 * The building blocks of the recipe schemas: string fields checked by a function that says what
 * is wrong, and strict objects whose unknown fields are reported.
 */
import * as z from 'zod'
import type { Checked } from './files.ts'

/** A string field read by `check`, which returns the value to keep or why the text is wrong. */
export function field<T>(check: (text: string) => Checked<T>) {
  return z.string().transform((text, ctx): T => {
    const result = text.trim() === '' ? { problem: 'must not be empty' } : check(text)
    if ('value' in result) return result.value
    ctx.issues.push({ code: 'custom', message: result.problem, input: text, params: { hint: result.hint } })
    return z.NEVER
  })
}

/** A field accepted when `test` passes, kept as written. */
export function matching(test: (text: string) => boolean, problem: (quoted: string) => string) {
  return field<string>((text) => (test(text) ? { value: text } : { problem: problem(JSON.stringify(text)) }))
}

/** An object whose unknown fields are each reported (with a did-you-mean, see `problems.ts`). */
export function strict<Shape extends z.ZodRawShape>(shape: Shape) {
  const knownFields = Object.keys(shape)
  const unknownField = z.unknown().superRefine((_, ctx) => {
    ctx.addIssue({ code: 'custom', message: 'unknown field', params: { knownFields } })
  })
  return z.object(shape).catchall(unknownField)
}
