/**
 * One error family for everything pibake reports to a person: the message says what failed,
 * the hint says what to do about it.
 */
export class PibakeError extends Error {
  readonly hint: string | undefined
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.hint = hint
  }
}

/** A recipe that does not load or does not validate; `problems` lists every bad field. */
export class RecipeError extends PibakeError {
  readonly problems: readonly string[]
  constructor(file: string, problems: readonly string[], hint?: string) {
    const list = problems.map((p) => `  - ${p}`).join('\n')
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the recipe\n${list}`, hint)
    this.problems = problems
  }
}

/** The host or the inputs are not fit for the build; found before anything is touched. */
export class PreflightError extends PibakeError {}

/** A stage failed while running. */
export class StageError extends PibakeError {
  readonly stage: string
  constructor(stage: string, message: string, hint?: string, options?: ErrorOptions) {
    super(`${stage}: ${message}`, hint, options)
    this.stage = stage
  }
}

/** A host command exited non-zero (or could not start). The command is printed so it can be pasted. */
export class CommandError extends PibakeError {
  readonly argv: readonly string[]
  readonly exitCode: number | undefined
  readonly stderrTail: string
  constructor(argv: readonly string[], exitCode: number | undefined, stderrTail: string, hint?: string) {
    const status = exitCode === undefined ? 'could not run' : `exited ${exitCode}`
    const tail = stderrTail ? `\n${indent(stderrTail)}` : ''
    super(`${shellQuote(argv)} ${status}${tail}`, hint)
    this.argv = argv
    this.exitCode = exitCode
    this.stderrTail = stderrTail
  }
}

/**
 * A recipe clashes with the other recipes of the site it publishes to (a node in two of them,
 * settings the one boot server cannot apply to both); found before anything is copied.
 */
export class SiteConflictError extends PibakeError {
  readonly problems: readonly string[]
  constructor(site: string, problems: readonly string[], hint?: string) {
    super(`the site ${site} cannot take this recipe: ${problems.length} conflict${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  - ${p}`).join('\n')}`, hint)
    this.problems = problems
  }
}

/** A command line that doesn't make sense. */
export class UsageError extends PibakeError {}

/** What a publish target serves after an interrupted run: its live build's id, or none. */
export interface LiveBuild {
  /** The target's configuration folder, as a person would write it (`host:/path` over SSH). */
  readonly target: string
  /** The live build's id; undefined when nothing was ever published there. */
  readonly build: string | undefined
}

/**
 * The run was interrupted by SIGINT or SIGTERM. `live`, once known (the site asked after the
 * interrupt), makes the hint say which build each target still serves, or that none was published.
 */
export class InterruptedError extends PibakeError {
  readonly signal: string
  readonly live: readonly LiveBuild[] | undefined
  constructor(signal: string, live?: readonly LiveBuild[]) {
    super(`interrupted by ${signal}`, interruptHint(live))
    this.signal = signal
    this.live = live
  }
}

function interruptHint(live: readonly LiveBuild[] | undefined): string {
  const undone = 'everything the run had set up was undone'
  if (!live?.length) return undone
  const each = live.map(({ target, build }) => (build ? `build ${build} is still live at ${target}` : `nothing was ever published to ${target}, so no build is live there`))
  return `${undone}; ${each.join('; ')}`
}

export function indent(text: string, prefix = '    '): string {
  return text.split('\n').map((line) => prefix + line).join('\n')
}

/** Quote an argument vector so that it can be pasted into a POSIX shell. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)).join(' ')
}
