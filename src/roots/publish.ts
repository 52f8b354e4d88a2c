/**
 * What publish does for a root mode with an image: the image is made once per publish (from the
 * final tree, the one every target gets, dated by the build's SOURCE_DATE_EPOCH; cached by the
 * content's key, see image.ts), with the files a boot reads first when the recipe has a read set on
 * the NFS server of the target that asks first (order.ts), checked against the nodes' memory for a
 * root in RAM, and copied to each target beside the build's tree, as `builds/<id>.squashfs`, before
 * any node is pointed at the build.
 */
import { mkdir, rm, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { formatBytes } from '../pipeline/events.ts'
import type { LayerContext } from '../pipeline/stage.ts'
import { recipeDir } from '../publish/builds.ts'
import { sourceDateEpoch } from '../repro/epoch.ts'
import type { Host } from '../publish/host.ts'
import { rootImage, type RootImage } from './image.ts'
import { imageOrder, newestReadSet, type ImageOrder } from './order.ts'
import { requireRamFits } from './memory.ts'
import { rootNeeds } from './modes.ts'
import { imageName } from './squashfs.ts'

/** An NFS destination of the publish: where the recipe's builds, and their read sets, are. */
export interface ImageSource {
  readonly host: Host
  readonly path: string
}

/** The image maker of this publish, when the root mode needs an image: it runs at most once, when the first target asks (with its NFS destination). */
export function imageMaker(ctx: LayerContext, root: string): ((nfs: ImageSource) => Promise<RootImage>) | undefined {
  const needs = rootNeeds(ctx.recipe.netboot)
  if (!needs.image) return undefined
  let made: Promise<RootImage> | undefined
  return (nfs) => (made ??= makeImage(ctx, root, needs.ram, nfs))
}

async function makeImage(ctx: LayerContext, root: string, ram: boolean, nfs: ImageSource): Promise<RootImage> {
  ctx.emit({ type: 'step', stage: 'publish', step: `squashfs image of the root (netboot.root '${ctx.recipe.netboot.root}')` })
  const order = await bootOrder(ctx, root, nfs)
  const image = await rootImage(ctx.workspace.cache, ctx.recipe.name, ctx.key, root, {
    epoch: (await sourceDateEpoch(root, { recipe: ctx.recipe })).seconds,
    order,
    signal: ctx.signal,
    onProgress: (done, total) => ctx.emit({ type: 'progress', stage: 'publish', done, total, unit: 'files' }),
  })
  ctx.emit({ type: 'info', stage: 'publish', message: `root image: ${formatBytes(image.bytes)}, ${image.compressor}${image.made ? '' : ' (made by an earlier publish of the same build)'}` })
  if (ram) requireRamFits(ctx.recipe.nodes, image.bytes, 'this build')
  return image
}

/** The files a boot reads, from the recipe's newest read set on `nfs`, and what the task list says of it. */
async function bootOrder(ctx: LayerContext, root: string, nfs: ImageSource): Promise<ImageOrder | undefined> {
  const builds = join(recipeDir(nfs.path, ctx.recipe.name), 'builds')
  const found = await newestReadSet(nfs.host.files, builds, ctx.recipe.name)
  const record = `pibake try ${ctx.recipe.file} --record-reads records one; the next build's image puts those files first (a node's boot then reads a few long runs of the image, not a short read per file)`
  if (found.problem) ctx.emit({ type: 'warning', stage: 'publish', message: `root image in mksquashfs's order: ${found.problem}; ${record}` })
  if (!found.set) {
    if (!found.problem) ctx.emit({ type: 'info', stage: 'publish', message: `root image in mksquashfs's order: no read set recorded for ${ctx.recipe.name} on ${nfs.host.files.describe(builds)}; ${record}` })
    return undefined
  }
  const order = await imageOrder(found.set, root)
  ctx.emit({ type: 'info', stage: 'publish', message: order ? `root image: the ${order.files} files build ${order.build}'s boot read come first, in the order it read them` : `root image in mksquashfs's order: none of the files of build ${found.set.build}'s read set is a plain file of this build` })
  return order
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
