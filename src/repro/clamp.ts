/**
 * The last act of every layer a build writes: each entry of the layer's trees modified after the
 * build's SOURCE_DATE_EPOCH gets it as its modification time (and access time: reading the tree
 * moves that again, so nothing compares it) — symlinks themselves, never what they point at. Entries that are older keep their time (a package's files keep the dates
 * their .deb gave them). The layer's own top folders are clamped too: overlayfs shows the top
 * layer's as the root's.
 *
 * Clamping runs on the upper folders once they are unmounted, before the layer is sealed.
 */
import { lstat, lutimes } from 'node:fs/promises'
import { join } from 'node:path'
import type { StageContext } from '../pipeline/stage.ts'
import { walk } from '../system/walk.ts'
import { epochSetting, formatEpoch, sourceDateEpoch, type Epoch } from './epoch.ts'

/** Clamps the trees `trees` (folders of the layer folder `dir`, e.g. `root` and `boot`) to `seconds`; returns how many entries it set. */
export async function clampTimes(dir: string, trees: readonly string[], seconds: number, signal?: AbortSignal): Promise<number> {
  let clamped = 0
  const limit = seconds * 1000
  for (const tree of trees) {
    const top = join(dir, tree)
    const stats = await lstat(top).catch(() => undefined)
    if (!stats) continue
    for await (const { full, stats: entry } of walk(top)) {
      signal?.throwIfAborted()
      if (entry.mtimeMs > limit) {
        await lutimes(full, seconds, seconds)
        clamped++
      }
    }
    // Last: setting the times of the entries in it leaves a folder's own mtime alone.
    if (stats.mtimeMs > limit) {
      await lutimes(top, seconds, seconds)
      clamped++
    }
  }
  return clamped
}

/** The SOURCE_DATE_EPOCH of the build `ctx` runs: the environment's, the recipe's, or the image's date (read from its root). */
export async function buildEpoch(ctx: StageContext): Promise<Epoch> {
  const setting = epochSetting({ recipe: ctx.recipe })
  return setting === 'image' ? sourceDateEpoch(await ctx.workspace.base()) : sourceDateEpoch('', { recipe: ctx.recipe })
}

/** Clamps the layer `dir`'s trees to the build's SOURCE_DATE_EPOCH and says so as an info event of `stage`. */
export async function clampLayer(ctx: StageContext, stage: string, dir: string, trees: readonly string[], known?: number): Promise<void> {
  const epoch = known === undefined ? await buildEpoch(ctx) : undefined
  const seconds = epoch?.seconds ?? known ?? 0
  const clamped = await clampTimes(dir, trees, seconds, ctx.signal)
  ctx.emit({ type: 'info', stage, message: `${clamped} entr${clamped === 1 ? 'y' : 'ies'} dated ${formatEpoch(seconds)} (SOURCE_DATE_EPOCH${epoch ? `, ${describeSource(epoch)}` : ''})` })
}

function describeSource(epoch: Epoch): string {
  return epoch.from === 'image' ? "the image's date" : epoch.from === 'recipe' ? "the recipe's sourceDateEpoch" : 'from the environment'
}
