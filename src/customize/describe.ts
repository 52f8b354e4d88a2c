/**
 * How a step is named to people: a short headline (`run "apt-get install nfs-common"`), where the
 * recipe says it (`recipes/cluster-node.ts:14`), and the error that points there when it fails.
 */
import { dirname, isAbsolute, relative } from 'node:path'
import { CommandError, PibakeError, StageError, indent, shellQuote } from '../errors.ts'
import type { CustomizeStep, StepLocation } from '../recipe/types.ts'

const MAX_HEADLINE = 70

/** `run "echo hi"`, `packages less tree`, `copy files/a.conf → /etc/a.conf`… */
export function headline(step: CustomizeStep): string {
  const text = (() => {
    switch (step.kind) {
      case 'packages':
        return `packages ${[step.upgrade ? '(upgrade)' : '', ...step.install].filter(Boolean).join(' ')}`
      case 'remove':
        return `remove ${step.packages.join(' ')}`
      case 'run':
        return `run ${JSON.stringify(firstLine(step.command))}`
      case 'script':
        return `script ${fromRecipe(step, step.path)}`
      case 'copy':
        return `copy ${fromRecipe(step, step.from)} → ${step.to}`
      case 'write':
        return `write ${step.path}`
      case 'users':
        return `users ${step.users.map((u) => u.name).join(', ')}`
      case 'groups':
        return `groups ${step.groups.map((g) => g.name).join(', ')}`
      default:
        return `${step.kind} ${step.units.join(' ')}`
    }
  })()
  return text.length > MAX_HEADLINE ? `${text.slice(0, MAX_HEADLINE - 1)}…` : text
}

/** `recipes/cluster-node.ts:14` (relative to the current folder when below it), or the step's place in the list. */
export function location(step: CustomizeStep): string {
  const file = shortPath(step.at.file)
  return step.at.line === undefined ? `${file}, customize[${step.index}]` : `${file}:${step.at.line}`
}

/** The step as the task list shows it: `run "echo hi" (recipe.ts:14)`. */
export function describeStep(step: CustomizeStep): string {
  return `${headline(step)} (${location(step)})`
}

/**
 * A step that failed: `customize › run "exit 3" (recipe.ts:14) exited 3`, then the command as it
 * can be pasted and the last lines it printed.
 */
export class StepError extends StageError {
  readonly step: CustomizeStep
  readonly exitCode: number | undefined
  constructor(step: CustomizeStep, what: string, details: string, hint?: string, options?: ErrorOptions & { exitCode?: number }) {
    super('customize', what, hint, options)
    this.message = `customize › ${describeStep(step)} ${what}${details ? `\n${details}` : ''}`
    this.step = step
    this.exitCode = options?.exitCode
  }
}

/** A command that failed for a reason worth saying in words (`no package "foo" in the image's apt sources`). */
export class CommandFailure extends PibakeError {
  readonly command: CommandError
  constructor(what: string, command: CommandError, hint?: string) {
    super(what, hint, { cause: command })
    this.command = command
  }
}

/** Any error from a step, as a StepError naming the step; a failed command shows itself and its output. */
export function stepError(step: CustomizeStep, error: unknown): Error {
  if (error instanceof StepError || (error instanceof Error && error.name === 'AbortError')) return error
  if (error instanceof CommandFailure) {
    const { argv, stderrTail, exitCode } = error.command
    return new StepError(step, error.message, commandDetails(argv, stderrTail), error.hint, { cause: error, ...(exitCode === undefined ? {} : { exitCode }) })
  }
  if (error instanceof CommandError) {
    const status = error.exitCode === undefined ? 'could not run its command' : `exited ${error.exitCode}`
    const exitCode = error.exitCode === undefined ? {} : { exitCode: error.exitCode }
    return new StepError(step, status, commandDetails(error.argv, error.stderrTail), error.hint, { cause: error, ...exitCode })
  }
  const e = error instanceof Error ? error : new Error(String(error))
  return new StepError(step, `failed: ${e.message}`, '', e instanceof PibakeError ? e.hint : undefined, { cause: e })
}

/** The command (run in the image: the chroot and its root are left out) and the tail of its output. */
export function commandDetails(argv: readonly string[], tail: string): string {
  const inImage = argv[0] === 'chroot' ? argv.slice(2) : argv
  const where = argv[0] === 'chroot' ? `in the image (chroot ${argv[1]}):` : 'command:'
  const output = tail ? `\n${indent('last lines of its output:')}\n${indent(tail, '      ')}` : ''
  return `${indent(`${where} ${shellQuote(inImage)}`)}${output}`
}

function firstLine(text: string): string {
  const [first = '', ...rest] = text.trim().split('\n')
  return rest.length ? `${first} …` : first
}

/** A host path from the recipe, shown relative to the recipe's folder. */
function fromRecipe(step: CustomizeStep, path: string): string {
  const rel = relative(dirname(step.at.file), path)
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path
}

function shortPath(file: string): string {
  const rel = relative(process.cwd(), file)
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file
}
