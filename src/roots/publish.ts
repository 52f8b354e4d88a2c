/**
 * What publish does for a root mode with an image: the image is made once per publish (from the
 * final tree, the one every target gets, dated by the build's SOURCE_DATE_EPOCH; cached by the
 * content's key, see image.ts), checked against the nodes' memory for a root in RAM, and copied to
 * each target beside the build's tree, as `builds/<id>.squashfs`, before any node is pointed at
 * the build.
 */
import { mkdir, rm, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { formatBytes } from '../pipeline/events.ts'
import type { LayerContext } from '../pipeline/stage.ts'
import { recipeDir } from '../publish/builds.ts'
import { sourceDateEpoch } from '../repro/epoch.ts'
import type { Host } from '../publish/host.ts'
import { rootImage, type RootImage } from './image.ts'
import { requireRamFits } from './memory.ts'
import { rootNeeds } from './modes.ts'
import { imageName } from './squashfs.ts'

/** The image maker of this publish, when the root mode needs an image: it runs at most once, when the first target asks. */
export function imageMaker(ctx: LayerContext, root: string): (() => Promise<RootImage>) | undefined {
  const needs = rootNeeds(ctx.recipe.netboot)
  if (!needs.image) return undefined
  let made: Promise<RootImage> | undefined
  return () => (made ??= makeImage(ctx, root, needs.ram))
}

async function makeImage(ctx: LayerContext, root: string, ram: boolean): Promise<RootImage> {
  ctx.emit({ type: 'step', stage: 'publish', step: `squashfs image of the root (netboot.root '${ctx.recipe.netboot.root}')` })
  const image = await rootImage(ctx.workspace.cache, ctx.recipe.name, ctx.key, root, {
    epoch: (await sourceDateEpoch(root, { recipe: ctx.recipe })).seconds,
    signal: ctx.signal,
    onProgress: (done, total) => ctx.emit({ type: 'progress', stage: 'publish', done, total, unit: 'files' }),
  })
  ctx.emit({ type: 'info', stage: 'publish', message: `root image: ${formatBytes(image.bytes)}, ${image.compressor}${image.made ? '' : ' (made by an earlier publish of the same build)'}` })
  if (ram) requireRamFits(ctx.recipe.nodes, image.bytes, 'this build')
  return image
}

/** Copies the image to `builds/<id>.squashfs` on the NFS host (rsync writes it under a temporary name, then renames it). */
export async function sendImage(ctx: LayerContext, nfs: { readonly host: Host; readonly path: string }, image: RootImage, id: string): Promise<void> {
  const builds = join(recipeDir(nfs.path, ctx.recipe.name), 'builds')
  const staging = join(ctx.dir, 'image')
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true })
  await symlink(image.path, join(staging, imageName(id)))
  ctx.emit({ type: 'step', stage: 'publish', step: `root image → ${nfs.host.files.describe(join(builds, imageName(id)))}` })
  await nfs.host.sync(staging, builds, {
    args: ['--recursive', '--copy-links', '--times', '--chmod=Fu=rw,Fgo=r'],
    signal: ctx.signal,
    onProgress: (bytes) => ctx.emit({ type: 'progress', stage: 'publish', done: bytes, total: image.bytes, unit: 'bytes' }),
  })
  await rm(staging, { recursive: true, force: true })
}
