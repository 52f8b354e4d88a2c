/**
 * Runs the stages in order: first every verification and cache decision (the plan), then the
 * stages that must run, each layer stage inside its own overlay mounts, every effect undone at the end.
 */
import { rm } from 'node:fs/promises'
import type { Recipe } from '../recipe/types.ts'
import { Cleanup, Journal } from '../system/cleanup.ts'
import { PibakeError, StageError } from '../errors.ts'
import type { EventSink, PlannedStage } from './events.ts'
import { manifestKey, readManifest, whatChanged, writeManifest, type Manifest } from './manifest.ts'
import type { Stage, StageContext } from './stage.ts'
import { checkSeal, sealLayer } from './seal.ts'
import { clampLayer } from '../repro/clamp.ts'
import { epochSetting } from '../repro/epoch.ts'
import { journalDir, Workspace } from './workspace.ts'

export interface RunOptions {
  /** `<out>`: caches, work trees, logs. */
  readonly outDir: string
  readonly emit: EventSink
  readonly signal: AbortSignal
  /** Stages to run even when cached; `true` for all. */
  readonly force?: readonly string[] | true
  /** Stages to leave out of this build. */
  readonly skip?: readonly string[]
  /** Refresh package lists and the like even when cached inputs say it isn't needed. */
  readonly refresh?: boolean
  /** `apt-get dist-upgrade` after the recipe's customize steps (see the customize stage). */
  readonly upgrade?: boolean
  /** Let publish take nodes from other recipes of the site. */
  readonly take?: boolean
}

export interface Plan {
  readonly stages: readonly (PlannedStage & { readonly stage: Stage; readonly manifest?: Manifest; readonly forced?: boolean })[]
}

/** Verifies every stage and decides which are cached; touches nothing on the host. */
export async function plan(stages: readonly Stage[], ctx: StageContext, options: RunOptions): Promise<Plan> {
  const planned: Plan['stages'][number][] = []
  let parent = ''
  let rerun = false
  for (const stage of stages) {
    const skipped = options.skip?.includes(stage.name) ? 'skipped on the command line' : stage.skip?.(ctx.recipe, ctx.options)
    if (skipped) {
      planned.push({ name: stage.name, stage, status: 'skipped', reason: skipped })
      continue
    }
    await stage.verify(ctx)
    const manifest: Manifest = { stage: stage.name, version: stage.version, parent, inputs: { ...(await stage.inputs(ctx)), ...datedInputs(stage, ctx) } }
    const key = manifestKey(manifest)
    const stored = await readManifest(ctx.workspace.stageDir(stage.name))
    const forced = options.force === true || options.force?.includes(stage.name)
    const reusable: boolean = stage.kind !== 'final' && !forced && !rerun && stored?.key === key && (await (stage.intact?.(ctx) ?? true))
    const stale: string | undefined = reusable ? ((await brokenSeal(stage, ctx)) ?? (await stage.stale?.(ctx))) : undefined
    const cached: boolean = reusable && !stale
    const reason = cached ? 'cached' : forced ? 'forced' : stage.kind === 'final' ? 'always runs' : (stale ?? (stored?.key === key ? 'an earlier stage runs' : whatChanged(stored, manifest)))
    planned.push({ name: stage.name, stage, status: cached ? 'cached' : 'run', reason, key, manifest, forced: Boolean(forced) })
    rerun ||= !cached && stage.kind !== 'final'
    parent = key
  }
  return { stages: planned }
}

/** Plans, then runs what must run. Every mount and loop device is undone before it returns. */
export async function run(stages: readonly Stage[], recipe: Recipe, options: RunOptions): Promise<Plan> {
  const journal = new Journal(journalDir(options.outDir))
  const cleanup = new Cleanup(journal)
  const workspace = new Workspace(options.outDir, recipe.name, cleanup, options.signal)
  const ctx: StageContext = { recipe, workspace, signal: options.signal, emit: options.emit, cleanup, options: { refresh: options.refresh ?? false, upgrade: options.upgrade ?? false, take: options.take ?? false } }
  try {
    const result = await plan(stages, ctx, options)
    options.emit({ type: 'plan', recipe: recipe.name, stages: result.stages.map(({ name, status, reason, key }) => ({ name, status, reason, key })) })
    workspace.layers = result.stages.filter((p) => p.status !== 'skipped' && (p.stage.kind === 'layer' || p.stage.kind === 'layers')).map((p) => p.name)
    for (const planned of result.stages) await runStage(planned, ctx, journal)
    return result
  } finally {
    const errors = await cleanup.run()
    for (const error of errors) options.emit({ type: 'warning', message: error.message })
  }
}

async function runStage(planned: Plan['stages'][number], ctx: StageContext, journal: Journal): Promise<void> {
  const { stage, manifest } = planned
  if (planned.status !== 'run') {
    ctx.emit({ type: 'stage-end', stage: stage.name, status: planned.status, reason: planned.reason })
    return
  }
  ctx.signal.throwIfAborted()
  ctx.emit({ type: 'stage-start', stage: stage.name })
  const started = Date.now()
  const dir = stage.kind === 'final' ? ctx.workspace.stageDir(stage.name) : await ctx.workspace.resetStage(stage.name)
  const stageCleanup = new Cleanup(journal)
  try {
    const views = stage.kind === 'layer' ? await ctx.workspace.mountLayer(stage.name, stageCleanup) : { root: '', boot: '' }
    await stage.run({ ...ctx, cleanup: stageCleanup, dir, key: planned.key ?? '', parent: manifest?.parent ?? '', forced: planned.forced ?? false, ...views })
    await finish(stageCleanup)
    if (stage.kind === 'layer') {
      await clampLayer(ctx, stage.name, dir, LAYER_TREES)
      await sealLayer(dir, LAYER_TREES)
    }
    if (manifest && stage.kind !== 'final') await writeManifest(dir, manifest)
  } catch (error) {
    await stageCleanup.run()
    if (stage.kind !== 'final') await rm(dir, { recursive: true, force: true })
    ctx.emit({ type: 'stage-end', stage: stage.name, status: 'failed', ms: Date.now() - started })
    throw asStageError(stage.name, error, ctx.signal)
  }
  ctx.emit({ type: 'stage-end', stage: stage.name, status: 'done', ms: Date.now() - started })
}

/** What a stage that writes layers dates their files with (see repro/clamp.ts): part of its cache key. */
function datedInputs(stage: Stage, ctx: StageContext): Record<string, unknown> {
  return stage.kind === 'layer' || stage.kind === 'layers' ? { sourceDateEpoch: epochSetting({ recipe: ctx.recipe }) } : {}
}

/** The upper trees of a layer stage's folder: what its seal covers (and the build's date clamps). */
const LAYER_TREES = ['root', 'boot'] as const

/** Why a layer stage's cached layer cannot be reused: changed, removed or added to since it was sealed. */
async function brokenSeal(stage: Stage, ctx: StageContext): Promise<string | undefined> {
  if (stage.kind !== 'layer') return undefined
  const problem = await checkSeal(ctx.workspace.stageDir(stage.name))
  return problem && `the cached ${stage.name} layer cannot be reused: ${problem}`
}

/** Runs a stage's undos; a failed unmount fails the stage (its layer would be unusable). */
async function finish(cleanup: Cleanup): Promise<void> {
  const errors = await cleanup.run()
  if (errors.length) throw errors[0]
}

function asStageError(stage: string, error: unknown, signal: AbortSignal): Error {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason
  if (error instanceof StageError) return error
  if (error instanceof PibakeError) return new StageError(stage, error.message, error.hint, { cause: error })
  const e = error instanceof Error ? error : new Error(String(error))
  return new StageError(stage, e.message, undefined, { cause: e })
}
