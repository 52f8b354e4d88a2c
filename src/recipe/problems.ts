/**
 * Problems found in a recipe, each tied to the path of the field it is about, and the translation
 * of zod's issues into them (`nodes[3].mac: "dc:a6:32:zz:00:01" is not a MAC address`).
 */
import type * as z from 'zod'
import { suggest } from './suggest.ts'

export type FieldPath = readonly PropertyKey[]

export interface Problem {
  readonly path: FieldPath
  readonly message: string
  /** What to do about it (one or more lines); the recipe error's hint gathers them. */
  readonly hint?: string
}

/** `nodes[3].mac`, `publish[0]["odd key"]`; the empty path is the recipe itself. */
export function formatPath(path: FieldPath): string {
  let text = ''
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) text += text ? `.${key}` : key
    else text += `[${JSON.stringify(String(key))}]`
  }
  return text || 'recipe'
}

export function formatProblem(problem: Problem): string {
  return `${formatPath(problem.path)}: ${problem.message}`
}

/** A value as a message shows it: strings quoted, containers by kind. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
  if (Array.isArray(value)) return 'a list'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'function') return 'a function'
  return String(value)
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object',
}

/** The zod error map: messages for the issues the schema does not word itself. */
export function messageFor(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'required'
    return `must be ${EXPECTED[issue.expected] ?? issue.expected}, not ${describe(issue.input)}`
  }
  if (issue.code === 'invalid_value') return `${oneOf(issue.values)}, not ${describe(issue.input)}`
  if (issue.code === 'invalid_union' && issue.discriminator !== undefined) {
    const given = (issue.input as Record<string, unknown> | undefined)?.[issue.discriminator]
    const options: readonly unknown[] = Array.isArray(issue.options) ? issue.options : []
    return `${oneOf(options)}${given === undefined ? '' : `, not ${describe(given)}`}`
  }
  return undefined
}

function oneOf(values: readonly unknown[]): string {
  const shown = values.map((v) => JSON.stringify(v))
  return shown.length > 1 ? `must be ${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}` : `must be ${shown[0]}`
}

/** Every zod issue as a problem; an unknown field that looks like a typo stands in for its "required". */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[]): Problem[] {
  const problems = issues.flatMap((issue) => fromIssue(issue, []))
  const typoFor = new Set(problems.flatMap((p) => (p.typoOf ? [formatPath(p.typoOf)] : [])))
  return problems
    .filter((p) => !(p.message === 'required' && typoFor.has(formatPath(p.path))))
    .map(({ path, message, hint }) => (hint === undefined ? { path, message } : { path, message, hint }))
}

type Found = Problem & { typoOf?: FieldPath }

function fromIssue(issue: z.core.$ZodIssue, prefix: FieldPath): Found[] {
  const path = [...prefix, ...issue.path]
  if (issue.code === 'invalid_union' && issue.discriminator === undefined) return fromUnion(issue, path)
  const params = issue.code === 'custom' ? issue.params : undefined
  if (Array.isArray(params?.knownFields)) return [unknownField(path, params.knownFields as string[])]
  const hint = typeof params?.hint === 'string' ? params.hint : undefined
  return [hint === undefined ? { path, message: issue.message } : { path, message: issue.message, hint }]
}

/**
 * A value that matches no branch of a union: when exactly one branch got past the type check
 * (the value is an object with a bad field, say), its issues are the useful ones.
 */
function fromUnion(issue: z.core.$ZodIssueInvalidUnion, path: FieldPath): Found[] {
  const typeMismatch = (branch: z.core.$ZodIssue[]) => branch.some((i) => i.code === 'invalid_type' && i.path.length === 0)
  const near = issue.errors.filter((branch) => !typeMismatch(branch))
  if (near.length === 1) return (near[0] ?? []).flatMap((inner) => fromIssue(inner, path))
  return [{ path, message: issue.message }]
}

function unknownField(path: FieldPath, known: readonly string[]): Found {
  const key = String(path.at(-1))
  const guess = suggest(key, known)
  if (guess === undefined) return { path, message: `unknown field (the fields here are ${known.join(', ')})` }
  return { path, message: `unknown field (did you mean "${guess}"?)`, typoOf: [...path.slice(0, -1), guess] }
}
