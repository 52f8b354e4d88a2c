/**
 * overlay: copies the recipe's overlay folders onto the image, `rootfs/` onto `/` and `bootfs/`
 * onto the boot partition, in order. Modes are kept and owners become root. Every destination is
 * resolved inside the image, so a symlink in the image never leads a write outside it.
 */
import { chmod, copyFile, lchown, lutimes, lstat, mkdir, rm, stat, symlink, readlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { StageError } from '../errors.ts'
import type { Stage } from '../pipeline/stage.ts'
import { resolveInRoot } from '../system/inroot.ts'
import { treeManifest, walk } from '../system/walk.ts'

const PARTS = [
  { folder: 'rootfs', tree: 'root' },
  { folder: 'bootfs', tree: 'boot' },
] as const

export const overlay: Stage = {
  name: 'overlay',
  kind: 'layer',
  version: 2,
  skip(recipe) {
    return recipe.overlays.length ? undefined : 'the recipe has no overlays'
  },
  async verify() {},
  async inputs(ctx) {
    const overlays: Record<string, unknown>[] = []
    for (const dir of ctx.recipe.overlays) {
      const parts: Record<string, unknown> = { name: basename(dir) }
      for (const { folder } of PARTS) if (await isDir(join(dir, folder))) parts[folder] = await treeManifest(join(dir, folder))
      overlays.push(parts)
    }
    return { overlays }
  },
  async run(ctx) {
    for (const dir of ctx.recipe.overlays) {
      for (const { folder, tree } of PARTS) {
        const source = join(dir, folder)
        if (!(await isDir(source))) continue
        const count = await applyTree(source, ctx[tree])
        ctx.emit({ type: 'info', stage: 'overlay', message: `${basename(dir)}/${folder}: ${count} entries` })
      }
    }
  },
}

/** Copies `source` onto `root`; returns how many entries were written. */
export async function applyTree(source: string, root: string): Promise<number> {
  let count = 0
  for await (const entry of walk(source)) {
    const parent = await resolveInRoot(root, dirname(`/${entry.path}`), { followLast: true })
    const target = join(parent, basename(entry.path))
    await mkdir(parent, { recursive: true })
    if (entry.stats.isDirectory()) await applyDir(root, target, entry.stats.mode)
    else if (entry.stats.isSymbolicLink()) await replaceWith(target, async () => symlink(await readlink(entry.full), target), entry.full)
    else if (entry.stats.isFile()) await replaceWith(target, () => copyFile(entry.full, target), entry.full, entry.stats.mode)
    else throw new StageError('overlay', `${entry.full}: only files, folders and symlinks can be in an overlay`)
    // The overlay's own times, so an unchanged file stays hard-linked to the previous build.
    if (!entry.stats.isDirectory()) await lutimes(target, entry.stats.atime, entry.stats.mtime)
    count++
  }
  return count
}

/**
 * A folder that the image already has keeps its mode (`/tmp` stays 1777), and so does a symlink to
 * a folder (followed inside the image, as `cp` and `rsync --keep-dirlinks` do); a new one gets the overlay's.
 */
async function applyDir(root: string, target: string, mode: number): Promise<void> {
  const existing = await lstat(target).catch(() => undefined)
  if (existing?.isDirectory()) return
  if (existing?.isSymbolicLink() && (await isDir(await resolveInRoot(root, target.slice(root.length), { followLast: true })))) return
  if (existing) await rm(target, { force: true })
  await mkdir(target)
  await lchown(target, 0, 0)
  await chmod(target, mode & 0o7777)
}

/** Replaces whatever is at `target` (never following it) with what `create` makes, owned by root. */
async function replaceWith(target: string, create: () => Promise<unknown>, source: string, mode?: number): Promise<void> {
  const existing = await lstat(target).catch(() => undefined)
  if (existing?.isDirectory()) throw new StageError('overlay', `${source}: the image has a folder where the overlay has a file (${target})`)
  if (existing) await rm(target, { force: true })
  await create()
  await lchown(target, 0, 0)
  if (mode !== undefined) await chmod(target, mode & 0o7777)
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false)
}
