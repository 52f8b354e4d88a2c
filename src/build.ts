/** The library's build and plan: everything `pibake build` and `pibake plan` do. */
import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fanOut, type BuildEvent, type BuildSummary, type EventSink, type PlannedStage } from './pipeline/events.ts'
import { acquireLock } from './pipeline/lock.ts'
import { plan as planStages, run, type RunOptions } from './pipeline/run.ts'
import { STAGES } from './pipeline/stages.ts'
import { collectSummary } from './pipeline/summary.ts'
import { Workspace } from './pipeline/workspace.ts'
import { Cleanup } from './system/cleanup.ts'
import { requireHost } from './doctor/index.ts'
import { InterruptedError, StageError } from './errors.ts'
import { describeStep, StepError } from './customize/describe.ts'
import { imageBytes } from './doctor/checks.ts'
import { isNoSpace, noSpaceError, type SpaceWant } from './system/space.ts'
import { liveBuilds } from './pipeline/live.ts'
import { resolveDir } from './system/paths.ts'
import { loadRecipe } from './recipe/load.ts'
import type { Recipe } from './recipe/types.ts'

export interface BuildOptions {
  /** Caches, work trees, logs and the default publish targets (default `./out`); created if missing, and resolved (symbolic links followed). */
  readonly outDir?: string
  readonly signal?: AbortSignal
  /** Receives every event of the build. */
  readonly onEvent?: EventSink
  /** Stages to run even if cached; `true` for all. */
  readonly force?: readonly string[] | true
  /** Stages to leave out. */
  readonly skip?: readonly string[]
  readonly refresh?: boolean
  /**
   * `apt-get dist-upgrade` after the recipe's customize steps. The customize stage then re-runs
   * only when one of the image's apt archives has changed since its cached result was made.
   */
  readonly upgrade?: boolean
  /** Take nodes this recipe lists from the other recipes of its site (a move), instead of refusing. */
  readonly take?: boolean
}

export interface BuildResult {
  readonly recipe: Recipe
  readonly stages: readonly PlannedStage[]
  /** The JSON-lines log of this run. */
  readonly log: string
  /** Published or unchanged, seconds per stage, bytes per target: also the build's last event. */
  readonly summary: BuildSummary
}

/** Loads the recipe (a path, or an already validated Recipe), plans, and runs every stage that isn't cached. */
export async function build(recipeOrFile: string | Recipe, options: BuildOptions = {}): Promise<BuildResult> {
  const outDir = await resolveDir(options.outDir ?? 'out')
  const recipe = typeof recipeOrFile === 'string' ? await loadRecipe(recipeOrFile, { outDir }) : recipeOrFile
  // pibake doctor's checks, before anything is touched: every missing prerequisite named at once.
  await requireHost(recipe, outDir)
  const log = await openLog(outDir, recipe.name)
  const collector = collectSummary(recipe.name)
  const emit = fanOut(collector.sink, log.sink, options.onEvent ?? (() => {}))
  const release = await acquireLock(join(outDir, 'work', recipe.name))
  try {
    const result = await run(STAGES, recipe, runOptions(outDir, emit, options))
    const summary = collector.summary()
    emit({ type: 'summary', ...summary })
    return { recipe, stages: result.stages.map(({ name, status, reason, key }) => ({ name, status, reason, key })), log: log.file, summary }
  } catch (caught) {
    const error = !(caught instanceof InterruptedError) && isNoSpace(caught) ? await noSpace(caught, recipe, outDir) : caught
    emit({ type: 'warning', message: `build failed: ${error instanceof Error ? error.message : String(error)}` })
    emit({ type: 'summary', ...collector.summary(error) })
    throw error instanceof InterruptedError ? await withLiveBuilds(error, recipe) : error
  } finally {
    await release()
    await log.close()
  }
}

/** Runs every verification and reports which stages are cached; changes nothing on the host. */
export async function plan(recipeOrFile: string | Recipe, options: BuildOptions = {}): Promise<{ recipe: Recipe; stages: PlannedStage[] }> {
  const outDir = await resolveDir(options.outDir ?? 'out')
  const recipe = typeof recipeOrFile === 'string' ? await loadRecipe(recipeOrFile, { outDir }) : recipeOrFile
  const signal = options.signal ?? new AbortController().signal
  const cleanup = new Cleanup()
  const workspace = new Workspace(outDir, recipe.name, cleanup, signal)
  const emit = options.onEvent ?? (() => {})
  try {
    const ctx = { recipe, workspace, signal, emit, cleanup, options: { refresh: options.refresh ?? false, upgrade: options.upgrade ?? false, take: options.take ?? false } }
    const result = await planStages(STAGES, ctx, runOptions(outDir, emit, options))
    return { recipe, stages: result.stages.map(({ name, status, reason, key }) => ({ name, status, reason, key })) }
  } finally {
    await cleanup.run()
  }
}

/** The interrupt, its hint saying what each target serves now (asked of the site, once all is undone). */
async function withLiveBuilds(error: InterruptedError, recipe: Recipe): Promise<InterruptedError> {
  if (error.live !== undefined) return error
  const live = await liveBuilds(recipe).catch(() => undefined)
  return live ? new InterruptedError(error.signal, live) : error
}

/**
 * A full filesystem, named: out/ (where a first build wants about three times the image) or a
 * publish target (where a build wants at most the image's size, less what it shares with the
 * previous build).
 */
async function noSpace(error: unknown, recipe: Recipe, outDir: string): Promise<Error> {
  const image = await imageBytes(recipe.image.path)
  const stage = error instanceof StageError ? error.stage : 'build'
  const doing = error instanceof StepError ? `customize › ${describeStep(error.step)}` : stage
  const wants: SpaceWant[] = [{ path: outDir, ...(image === undefined ? {} : { bytes: image * 3, why: '3 × the image, for a build without cached stages' }) }]
  for (const target of recipe.publish) {
    for (const dest of [target.nfs, target.tftp, target.config]) {
      const bytes = dest === target.nfs && image !== undefined ? { bytes: image, why: "at most the image's size, less what the previous build shares" } : {}
      wants.push(dest.kind === 'local' ? { path: dest.path, ...bytes } : { path: dest.path, remote: `${dest.user}@${dest.host}:${dest.path}`, ...bytes })
    }
  }
  const found = await noSpaceError(doing, error, wants)
  return new StageError(stage, found.message, found.hint, { cause: error })
}

function runOptions(outDir: string, emit: EventSink, options: BuildOptions): RunOptions {
  return { outDir, emit, signal: options.signal ?? new AbortController().signal, force: options.force, skip: options.skip, refresh: options.refresh, upgrade: options.upgrade, take: options.take }
}

async function openLog(outDir: string, recipe: string): Promise<{ file: string; sink: EventSink; close: () => Promise<void> }> {
  const dir = join(outDir, 'logs')
  await mkdir(dir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')
  const file = join(dir, `${recipe}-${stamp}-${process.pid}.jsonl`)
  const stream = createWriteStream(file, { flags: 'a' })
  const sink = (event: BuildEvent) => void stream.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`)
  return { file, sink, close: () => new Promise((done) => stream.end(done)) }
}
