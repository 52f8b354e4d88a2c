/**
 * Where each `customize` step was written, so that a failing step can name its recipe line.
 *
 * A recipe is a module that builds a value, so the value alone doesn't know its lines. Steps are
 * found in the recipe's source by their `kind: '…'` literals, in order; when several could match,
 * the one whose text holds the step's distinctive literal (its command, first package, path…)
 * wins. A step the source doesn't show (made by code, or imported from another file) gets the
 * recipe file without a line.
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import type { StepLocation } from './steps.ts'

/** A step as far as locating it goes: its kind and the fields that make it recognisable. */
export interface Locatable {
  readonly kind: string
  readonly [field: string]: unknown
}

interface Token {
  readonly kind: string
  readonly offset: number
  /** The source text from this `kind:` to the next one: the step's own fields, roughly. */
  readonly text: string
}

const KIND = /\bkind\s*:\s*(['"`])(packages|remove|run|script|copy|write|enable|disable|mask|users|groups)\1/g

export function locateSteps(file: string, steps: readonly Locatable[]): StepLocation[] {
  let source: string
  try {
    source = readFileSync(file, 'utf8')
  } catch {
    return steps.map(() => ({ file }))
  }
  const tokens = kindTokens(source)
  let next = 0
  return steps.map((step) => {
    const anchor = anchorOf(step)
    const candidates = tokens.slice(next).filter((t) => t.kind === step.kind)
    const token = candidates.find((t) => anchor !== undefined && t.text.includes(anchor)) ?? candidates[0]
    if (token) {
      next = tokens.indexOf(token) + 1
      return { file, line: lineAt(source, token.offset) }
    }
    const offset = anchor === undefined ? -1 : source.indexOf(anchor)
    return offset < 0 ? { file } : { file, line: lineAt(source, offset) }
  })
}

function kindTokens(source: string): Token[] {
  const matches = [...source.matchAll(KIND)]
  return matches.map((match, i) => {
    const end = matches[i + 1]?.index ?? source.length
    return { kind: match[2] ?? '', offset: match.index, text: source.slice(match.index, Math.min(end, match.index + 2000)) }
  })
}

/** The literal most likely to appear in the step's source text, as written. */
function anchorOf(step: Locatable): string | undefined {
  const first = (list: unknown, key?: string) => {
    const item: unknown = Array.isArray(list) ? list[0] : undefined
    const value = key && item && typeof item === 'object' ? (item as Record<string, unknown>)[key] : item
    return typeof value === 'string' ? value : undefined
  }
  switch (step.kind) {
    case 'run':
      return typeof step.command === 'string' ? step.command.split('\n')[0]?.slice(0, 60) : undefined
    case 'packages':
      return first(step.install)
    case 'remove':
      return first(step.packages)
    case 'script':
      return typeof step.path === 'string' ? basename(step.path) : undefined
    case 'copy':
      return typeof step.to === 'string' ? step.to : undefined
    case 'write':
      return typeof step.path === 'string' ? step.path : undefined
    case 'users':
      return first(step.users, 'name')
    case 'groups':
      return first(step.groups, 'name')
    default:
      return first(step.units)?.replace(/\.service$/, '')
  }
}

function lineAt(source: string, offset: number): number {
  let line = 1
  for (let i = source.indexOf('\n'); i !== -1 && i < offset; i = source.indexOf('\n', i + 1)) line++
  return line
}
