/**
 * `netboot.shrinkBoot` in the netboot stage: the boot files shrunk once the stage has laid out the
 * TFTP tree, each file's size before and after said on the task list and kept beside the stage's
 * layer (`shrunk.json`) for `pibake plan`. A recipe without it adds nothing to the stage's cache
 * key: its boot files, and every cached build of it, stay as they were.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { formatBytes } from '../pipeline/events.ts'
import type { LayerContext } from '../pipeline/stage.ts'
import type { Recipe } from '../recipe/types.ts'
import { requirePrograms } from '../system/preflight.ts'
import { shrinkBootFiles, type Shrunk } from './boot-files.ts'
import { requireXzInitramfs } from './kernel-config.ts'

/** How the files are shrunk: change it when shrinkBootFiles makes other bytes, and every shrunk build is made again. */
const SHRINK_INPUTS = { kernels: 'gzip -9, no name, no time', initramfs: 'xz -9 --check=crc32, one block', version: 1 } as const

/** In the netboot stage's folder: what shrinking did to each file. */
export const SHRUNK_FILE = 'shrunk.json'

/** What the netboot stage's cache key gains from `netboot.shrinkBoot`: nothing without it. */
export function shrinkInputs(netboot: Recipe['netboot']): Record<string, unknown> {
  return netboot.shrinkBoot ? { shrinkBoot: SHRINK_INPUTS } : {}
}

/** Before anything is built: the host has xz (the initramfs is recompressed with it). */
export async function verifyShrinkHost(recipe: Recipe): Promise<void> {
  if (recipe.netboot.shrinkBoot) await requirePrograms(['xz'])
}

/**
 * Before the stage changes anything: a kernel that could not unpack its initramfs once xz is
 * refused. The image's root is not there at verify (plan mounts nothing): this is the first point
 * where the kernel's config can be read.
 */
export async function verifyShrink(ctx: LayerContext): Promise<void> {
  if (ctx.recipe.netboot.shrinkBoot) await requireXzInitramfs(ctx.root, ctx.boot)
}

/** Shrinks the stage's boot files (checked again: a root mode may have rebuilt the initramfs) and says what it did. */
export async function shrinkBoot(ctx: LayerContext): Promise<void> {
  if (!ctx.recipe.netboot.shrinkBoot) return
  await requireXzInitramfs(ctx.root, ctx.boot)
  const shrunk = await shrinkBootFiles(ctx.boot, ctx.signal)
  for (const { file, before, after, how } of shrunk) {
    ctx.emit({ type: 'step', stage: 'netboot', step: `shrink ${file}: ${formatBytes(before)} → ${formatBytes(after)} (${how})` })
  }
  await writeFile(join(ctx.dir, SHRUNK_FILE), `${JSON.stringify({ files: shrunk }, null, 2)}\n`)
}

/** What the last run of the netboot stage in `stageDir` shrank, if it shrank anything. */
export async function lastShrunk(stageDir: string): Promise<readonly Shrunk[] | undefined> {
  const text = await readFile(join(stageDir, SHRUNK_FILE), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const { files } = JSON.parse(text) as { files: Shrunk[] }
    return Array.isArray(files) && files.every((f) => typeof f.file === 'string' && Number.isSafeInteger(f.before) && Number.isSafeInteger(f.after)) ? files : undefined
  } catch {
    return undefined
  }
}
