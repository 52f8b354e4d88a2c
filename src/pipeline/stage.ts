/** What a stage is: a name, a manifest of the inputs it reads, a verification, and a run. */
import type { Recipe } from '../recipe/types.ts'
import type { Cleanup } from '../system/cleanup.ts'
import type { EventSink } from './events.ts'
import type { Workspace } from './workspace.ts'

export interface StageContext {
  readonly recipe: Recipe
  readonly workspace: Workspace
  readonly signal: AbortSignal
  readonly emit: EventSink
  /** Undos for this run (loop devices, mounts): run when the build ends, however it ends. */
  readonly cleanup: Cleanup
  /** Options given on the command line that stages may read. */
  readonly options: { readonly refresh: boolean; readonly upgrade: boolean; readonly take: boolean }
}

/** Where a layer stage writes: the merged, writable views of the root and boot trees. */
export interface LayerContext extends StageContext {
  /** The stage's layer directory (holds its manifest and upper directories). */
  readonly dir: string
  /** This stage's cache key: equal keys mean equal output. */
  readonly key: string
  /** The cache key of the stage below (what the stage's output is built on). */
  readonly parent: string
  /** The stage runs because the command line forced it (`--force`, `--from`): nothing of it is reused. */
  readonly forced: boolean
  /** The root filesystem as seen with every layer below, writable into this stage's layer. */
  readonly root: string
  /** The boot partition's files, likewise. */
  readonly boot: string
}

export interface Stage {
  readonly name: string
  /**
   * `layer`: the stage writes an overlayfs layer over the root and boot trees.
   * `layers`: the stage writes a chain of such layers of its own, each cached on its own (the
   *   customize steps): it mounts each with `workspace.mountLayer(name, cleanup, { layer, over })`
   *   and lists them with `workspace.setOutputLayers`; `root` and `boot` are not mounted for it.
   * `output`: the stage writes files of its own into its directory (no overlay).
   * `final`: never cached; runs every time (publishing).
   */
  readonly kind: 'layer' | 'layers' | 'output' | 'final'
  /** Bump when the stage's code changes what it produces: it is part of the cache key. */
  readonly version: number
  /** Why the stage does not apply to this recipe (with these options), or undefined when it does. */
  skip?(recipe: Recipe, options: StageContext['options']): string | undefined
  /** Checks made before anything touches the host; throws a PibakeError naming the problem. */
  verify(ctx: StageContext): Promise<void>
  /** Everything the stage reads, as JSON: with the parent's key, this is its cache key. */
  inputs(ctx: StageContext): Promise<Record<string, unknown>>
  /** Whether a cached result is still intact (e.g. a cached file still exists). */
  intact?(ctx: StageContext): Promise<boolean>
  /** Why a cached result no longer stands although the inputs are the same (e.g. upstream changed), or undefined. */
  stale?(ctx: StageContext): Promise<string | undefined>
  run(ctx: LayerContext): Promise<void>
}
