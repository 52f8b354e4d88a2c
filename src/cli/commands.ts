/** The CLI's commands: each parses its positionals, calls the library, and shows the result. */
import { UsageError } from '../errors.ts'
import { resolveDirSync } from '../system/paths.ts'
import type { Renderer } from './render.ts'

export interface Values {
  readonly out?: string | undefined
  readonly from?: string | undefined
  readonly force?: boolean | undefined
  readonly skip?: string[] | undefined
  readonly refresh?: boolean | undefined
  readonly json?: boolean | undefined
  readonly plain?: boolean | undefined
  readonly output?: string | undefined
  readonly mtime?: boolean | undefined
  readonly arch?: string | undefined
  readonly interface?: string | undefined
  readonly seconds?: string | undefined
  readonly log?: string | undefined
  readonly recipe?: string[] | undefined
  readonly release?: string | undefined
  readonly target?: string | undefined
  readonly to?: string | undefined
  readonly take?: boolean | undefined
  readonly dryRun?: boolean | undefined
  readonly purgeNodeData?: boolean | undefined
  readonly rebalance?: boolean | undefined
  readonly keepDays?: string | undefined
  readonly keepBuilds?: string | undefined
  readonly upgrade?: boolean | undefined
  readonly onCalendar?: string | undefined
  readonly unitDir?: string | undefined
  readonly remove?: boolean | undefined
  readonly print?: boolean | undefined
  readonly listen?: string | undefined
  readonly image?: string | undefined
  readonly name?: string | undefined
  readonly discover?: string | undefined
  readonly nodes?: string | undefined
  readonly ordinaryPorts?: boolean | undefined
  readonly format?: string | undefined
  readonly package?: string | undefined
  readonly command?: string | undefined
  readonly console?: boolean | undefined
  readonly recordReads?: boolean | undefined
  readonly timeout?: string | undefined
  readonly allowedSigners?: string | undefined
}

type Command = (args: readonly string[], values: Values, signal: AbortSignal) => Promise<number>

const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  build: async () => buildCommand,
  plan: async () => (await import('./plan.ts')).planCommand,
  nodes: async () => (await import('./nodes.ts')).nodesCommand,
  try: async () => (await import('./try.ts')).tryCommand,
  snapshot: async () => (await import('./snapshot.ts')).snapshotCommand,
  diff: async () => (await import('./snapshot.ts')).diffCommand,
  export: async () => (await import('./export.ts')).exportCommand,
  'demo-image': async () => (await import('./demo.ts')).demoCommand,
  clean: async () => (await import('./clean.ts')).cleanCommand,
  doctor: async () => (await import('./doctor.ts')).doctorCommand,
  site: async () => (await import('./site.ts')).siteCommand,
  rollback: async () => (await import('./site.ts')).rollbackCommand,
  unpublish: async () => (await import('./site.ts')).unpublishCommand,
  gc: async () => (await import('./site.ts')).gcCommand,
  drain: async () => (await import('./drain.ts')).drainCommand,
  undrain: async () => (await import('./drain.ts')).undrainCommand,
  init: async () => (await import('./init.ts')).initCommand,
  discover: async () => (await import('./discover.ts')).discoverCommand,
  rehearse: async () => (await import('./rehearse.ts')).rehearseCommand,
  schedule: async () => (await import('./schedule.ts')).scheduleCommand,
  serve: async () => (await import('./serve.ts')).serveCommand,
  report: async () => (await import('./serve.ts')).reportCommand,
  sbom: async () => (await import('./sbom.ts')).sbomCommand,
  verify: async () => (await import('./verify.ts')).verifyCommand,
}

/** The commands, for the help text's completeness test. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS)

/**
 * The commands whose argument names a recipe of the site: each gets the recipe's name, whether it
 * was given as the name or as the recipe's file (`pibake report recipes/cluster-node.ts`).
 */
export const NAMES_A_RECIPE: readonly string[] = ['site', 'rollback', 'unpublish', 'gc', 'report']

/** The commands whose first argument is a recipe file, or the name of a recipe the site lists (./recipe-file.ts). */
export const RUNS_A_RECIPE: readonly string[] = ['build', 'plan', 'nodes', 'try']

export async function runCommand(name: string, args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  const load = COMMANDS[name]
  if (!load) throw new UsageError(`unknown command "${name}"`, `one of: ${Object.keys(COMMANDS).join(', ')} (pibake --help)`)
  const named = NAMES_A_RECIPE.includes(name) && args.length === 1 ? [await (await import('../recipe/argument.ts')).recipeNameOf(args[0]!)] : await withRecipeFile(name, args, values)
  return (await load())(named, values, signal)
}

/**
 * A command that runs a recipe, given its name: the name becomes the file its site record names.
 * The site's modules load only then: every other command starts without them (a tenth of a second
 * or more of `pibake export`'s time, say).
 */
async function withRecipeFile(name: string, args: readonly string[], values: Values): Promise<readonly string[]> {
  const [first, ...rest] = args
  if (!RUNS_A_RECIPE.includes(name) || first === undefined) return args
  const { recipeFileOf } = await import('./recipe-file.ts')
  return [await recipeFileOf(first, values), ...rest]
}

/** `--out` (default ./out), created if missing and resolved: the kernel's mount table names it so. */
export function outDir(values: Values): string {
  return resolveDirSync(values.out ?? 'out')
}

export function oneArgument(args: readonly string[], what: string): string {
  if (args.length !== 1) throw new UsageError(`expected ${what}, got ${args.length ? args.join(' ') : 'nothing'}`)
  return args[0]!
}

/** The build's task list; listr2 loads only for a build. */
export async function chooseRenderer(values: Values): Promise<Renderer> {
  const { jsonRenderer, listrRenderer, plainRenderer } = await import('./render.ts')
  if (values.json) return jsonRenderer()
  if (values.plain || !process.stderr.isTTY || process.env.CI) return plainRenderer()
  return listrRenderer()
}

async function buildCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  const file = oneArgument(args, 'one recipe file')
  const { build } = await import('../build.ts')
  const { STAGES } = await import('../pipeline/stages.ts')
  const { formatSummary } = await import('../pipeline/summary.ts')
  const names = STAGES.map((s) => s.name)
  for (const stage of [values.from, ...(values.skip ?? [])]) {
    if (stage !== undefined && !names.includes(stage)) throw new UsageError(`no stage named "${stage}"`, `stages: ${names.join(', ')}`)
  }
  const force = values.force ? true : values.from ? names.slice(names.indexOf(values.from)) : undefined
  const renderer = await chooseRenderer(values)
  try {
    const result = await build(file, { outDir: outDir(values), signal, onEvent: renderer.sink, force, skip: values.skip, refresh: values.refresh, upgrade: values.upgrade, take: values.take })
    await renderer.done()
    if (!values.json) process.stderr.write(`pibake: ${formatSummary(result.summary)}\npibake: log: ${result.log}\n`)
    return 0
  } finally {
    await renderer.done()
  }
}
