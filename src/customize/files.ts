/**
 * `copy` and `write` steps, done from the host side. Every destination is resolved inside the
 * image (a symlink in it never leads a write outside), or inside the boot partition's files for a
 * path below its mount point (`/boot/firmware/config.txt`); owners are looked up in the image's
 * own passwd and group, and copied files keep their source's times so unchanged builds stay hard-linked.
 */
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { PibakeError } from '../errors.ts'
import type { CopyStep, WriteStep } from '../recipe/types.ts'
import { resolveInRoot } from '../system/inroot.ts'
import { walk } from '../system/walk.ts'
import { treeOf, type StepContext } from './context.ts'
import { resolveOwner } from './passwd.ts'

interface Ids {
  readonly uid: number
  readonly gid: number
}

export async function writeStep(step: WriteStep, ctx: StepContext): Promise<void> {
  const ids = await resolveOwner(ctx.root, step.owner)
  const { tree, path } = treeOf(ctx, step.path)
  const target = await fileTarget(tree, path)
  await writeFile(target, step.content)
  await finish(target, ids, step.mode)
}

export async function copyStep(step: CopyStep, ctx: StepContext): Promise<void> {
  const ids = await resolveOwner(ctx.root, step.owner)
  const source = await stat(step.from)
  const { tree, path: to } = treeOf(ctx, step.to)
  if (!source.isDirectory()) {
    await copyFileTo(step.from, await fileTarget(tree, to), ids, step.mode ?? source.mode & 0o7777)
    return
  }
  const top = await resolveInRoot(tree, to, { followLast: true })
  await makeDir(top, ids, source.mode & 0o7777)
  let count = 0
  for await (const entry of walk(step.from)) {
    const parent = await resolveInRoot(tree, dirname(join(to, entry.path)), { followLast: true })
    const target = join(parent, entry.path.split('/').pop() ?? '')
    if (entry.stats.isDirectory()) await makeDir(target, ids, entry.stats.mode & 0o7777)
    else if (entry.stats.isSymbolicLink()) await copyLink(entry.full, target, ids)
    else if (entry.stats.isFile()) await copyFileTo(entry.full, target, ids, step.mode ?? entry.stats.mode & 0o7777)
    else throw new PibakeError(`${entry.full}: only files, folders and symlinks can be copied`)
    count++
  }
  ctx.info(`${count} entries copied to ${step.to}`)
}

/** Where a file goes: its folder resolved inside the image (and made), the file itself never followed. */
async function fileTarget(root: string, path: string): Promise<string> {
  const parent = await resolveInRoot(root, dirname(path), { followLast: true })
  await mkdir(parent, { recursive: true })
  const target = join(parent, path.split('/').pop() ?? '')
  const existing = await lstat(target).catch(() => undefined)
  if (existing?.isDirectory()) throw new PibakeError(`${path} is a folder in the image`, 'give the path of the file itself')
  if (existing) await rm(target)
  return target
}

async function copyFileTo(source: string, target: string, ids: Ids, mode: number): Promise<void> {
  const existing = await lstat(target).catch(() => undefined)
  if (existing?.isDirectory()) throw new PibakeError(`${target}: the image has a folder where ${source} is a file`)
  if (existing) await rm(target)
  await copyFile(source, target)
  await finish(target, ids, mode)
  const times = await stat(source)
  await lutimes(target, times.atime, times.mtime)
}

async function copyLink(source: string, target: string, ids: Ids): Promise<void> {
  const existing = await lstat(target).catch(() => undefined)
  if (existing?.isDirectory()) throw new PibakeError(`${target}: the image has a folder where ${source} is a symlink`)
  if (existing) await rm(target)
  await symlink(await readlink(source), target)
  await lchown(target, ids.uid, ids.gid)
}

/** A folder the image has keeps its owner and mode; a new one gets the step's owner and the source's mode. */
async function makeDir(target: string, ids: Ids, mode: number): Promise<void> {
  const existing = await lstat(target).catch(() => undefined)
  if (existing?.isDirectory()) return
  if (existing) throw new PibakeError(`${target}: the image has a file where the copy has a folder`)
  await mkdir(target, { recursive: true })
  await finish(target, ids, mode)
}

async function finish(target: string, ids: Ids, mode: number): Promise<void> {
  await lchown(target, ids.uid, ids.gid)
  await chmod(target, mode)
}
