/**
 * The root mode's checks before a build: the host tools an image needs, and for a root in RAM the
 * nodes' memory against the newest image made here (the build itself is not made yet; publish
 * checks again with the image it made, before sending it).
 */
import type { StageContext } from '../pipeline/stage.ts'
import { requirePrograms } from '../system/preflight.ts'
import { lastImage } from './image.ts'
import { RAM_MARGIN_BYTES, requireRamFits } from './memory.ts'
import { formatBytes } from '../pipeline/events.ts'
import { rootNeeds } from './modes.ts'

export async function verifyRoot(ctx: StageContext): Promise<void> {
  const needs = rootNeeds(ctx.recipe.netboot)
  if (!needs.image) return
  await requirePrograms(['mksquashfs'])
  const last = needs.ram ? await lastImage(ctx.workspace.cache, ctx.recipe.name) : undefined
  if (last) requireRamFits(ctx.recipe.nodes, last.bytes, 'as the last build made it')
}

/** What `pibake plan` says of the root image: its size as the last build made it, and what a node in RAM needs. */
export async function imagePlan(recipe: StageContext['recipe'], cache: string): Promise<{ line: string; bytes?: number } | undefined> {
  const needs = rootNeeds(recipe.netboot)
  if (!needs.image) return undefined
  const last = await lastImage(cache, recipe.name)
  const what = `root image (netboot.root '${recipe.netboot.root}')`
  if (!last) return { line: `${what}: not made yet (publish makes it with mksquashfs; plan again after a build for its size)` }
  const ram = needs.ram ? `; each node needs ${formatBytes(last.bytes + RAM_MARGIN_BYTES)} of memory (the image + ${formatBytes(RAM_MARGIN_BYTES)})` : ''
  return { line: `${what}: ${formatBytes(last.bytes)} (${last.compressor}) as the last build made it${ram}`, bytes: last.bytes }
}
