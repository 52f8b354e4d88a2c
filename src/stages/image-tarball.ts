/**
 * The image and extract stages for a recipe whose image is a root tarball (and maybe a boot
 * tarball): each tarball is checked against its sha256 and unpacked once into the cache, and the
 * build's root is that tree, as it is a disk image's root partition otherwise.
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { PreflightError } from '../errors.ts'
import type { StageContext } from '../pipeline/stage.ts'
import { copyTree } from '../system/cp.ts'
import { requirePrograms } from '../system/preflight.ts'
import { tarballKind } from '../tarball/compression.ts'
import { tarballTree, unpackImageTarball } from '../tarball/image.ts'
import { checksumsFile, fileSha256, rememberSha256 } from './image.ts'

interface Tarball {
  readonly field: 'image' | 'image.boot'
  readonly path: string
  readonly sha256: string
  readonly as: 'root' | 'boot'
}

export function isTarballImage(path: string): boolean {
  return tarballKind(path) !== undefined
}

function tarballs(ctx: StageContext): Tarball[] {
  const { path, sha256, boot } = ctx.recipe.image
  return [{ field: 'image', path, sha256, as: 'root' }, ...(boot ? [{ field: 'image.boot' as const, ...boot, as: 'boot' as const }] : [])]
}

/** The unpacked root of the recipe's root tarball. */
export function tarballRoot(ctx: StageContext): string {
  return join(tarballTree(ctx.workspace.cache, ctx.recipe.image.sha256), 'root')
}

/** The boot files: the boot tarball's when the recipe names one, else the root tarball's `boot/firmware/`. */
export function tarballBoot(ctx: StageContext): string {
  const { sha256, boot } = ctx.recipe.image
  return join(tarballTree(ctx.workspace.cache, boot?.sha256 ?? sha256), 'boot')
}

/** The image stage's checks: the programs, and the sha256 of each tarball not unpacked yet unless it is checked while unpacking. */
export async function verifyTarballs(ctx: StageContext): Promise<void> {
  const kinds = tarballs(ctx).map((t) => tarballKind(t.path))
  await requirePrograms(['setfattr', 'tar', 'cp', ...(kinds.includes('tar.xz') ? ['xz'] : []), ...(kinds.includes('tar.zst') ? ['zstd'] : [])])
  for (const tarball of tarballs(ctx)) {
    if (!(await unpacked(ctx, tarball))) continue
    await checkSha256(tarball, await fileSha256(tarball.path, checksumsFile(ctx.workspace.cache)))
  }
}

export function tarballInputs(ctx: StageContext): Record<string, unknown> {
  return { sha256: ctx.recipe.image.sha256, tarball: true, boot: ctx.recipe.image.boot?.sha256 ?? null }
}

export async function tarballsIntact(ctx: StageContext): Promise<boolean> {
  for (const tarball of tarballs(ctx)) if (!(await unpacked(ctx, tarball))) return false
  return true
}

/** Unpacks each tarball that is not in the cache yet (hashing it on the way, checked before it takes its cache name). */
export async function unpackTarballs(ctx: StageContext): Promise<void> {
  for (const tarball of tarballs(ctx)) {
    if (await unpacked(ctx, tarball)) continue
    ctx.emit({ type: 'step', stage: 'image', step: `unpack ${tarball.path}` })
    await unpackImageTarball(tarball.path, tarballTree(ctx.workspace.cache, tarball.sha256), {
      as: tarball.as,
      signal: ctx.signal,
      onProgress: (done, total) => ctx.emit({ type: 'progress', stage: 'image', done, total, unit: 'bytes' }),
      check: async (sha256) => {
        await checkSha256(tarball, sha256)
        await rememberSha256(tarball.path, checksumsFile(ctx.workspace.cache), sha256)
      },
    })
  }
}

async function unpacked(ctx: StageContext, tarball: Tarball): Promise<boolean> {
  return stat(join(tarballTree(ctx.workspace.cache, tarball.sha256), tarball.as)).then((s) => s.isDirectory(), () => false)
}

async function checkSha256(tarball: Tarball, actual: string): Promise<void> {
  if (actual === tarball.sha256) return
  throw new PreflightError(
    `${tarball.field}.path: ${tarball.path} has sha256 ${actual}, but the recipe says ${tarball.sha256}`,
    `the file may be incomplete or corrupt: export or download it again; if you replaced it on purpose, update ${tarball.field}.sha256`,
  )
}

/** The extract stage's copy of the boot files (its `boot/`, the layers' bottom), from the unpacked tarball. */
export async function copyTarballBoot(ctx: StageContext, dest: string): Promise<void> {
  await copyTree(tarballBoot(ctx), dest, ctx.signal)
}
