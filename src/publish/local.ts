/**
 * Publishing to local directories (the NFS export and the TFTP root on this machine, or mounted
 * from elsewhere). A new build is copied next to the previous ones, unchanged files hard-linked,
 * then every node's TFTP directory is switched to it with one rename each. Running clients keep the
 * build they booted; nothing live is modified in place.
 */
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { macDir, missingBootFiles, type BootNames } from '../netboot/layout.ts'
import { nodeCmdline, parseCmdline } from '../netboot/cmdline.ts'
import type { LayerContext } from '../pipeline/stage.ts'
import type { Node } from '../recipe/types.ts'
import { exec } from '../system/exec.ts'
import { treeBytes } from '../system/du.ts'
import { ROOTFS_ARGS, rsync } from '../system/rsync.ts'
import { currentBuild, newBuildId, recipeDir, type BuildRecord } from './builds.ts'
import { switchSymlink } from './fsops.ts'
import { publishIdentities } from './identity.ts'

export interface LocalTarget {
  readonly nfs: string
  readonly tftp: string
}

export interface Published {
  readonly id: string
  /** False when the same content was already live and nothing was copied. */
  readonly copied: boolean
  /** Bytes of the new build's root tree (when copied). */
  readonly bytes?: number
}

export async function publishLocal(ctx: LayerContext, target: LocalTarget, views: { root: string; boot: string }, key: string): Promise<Published> {
  const live = await currentBuild(target.nfs, ctx.recipe.name)
  await publishIdentities(ctx.workspace.out, ctx.recipe.name, ctx.recipe.nodes, recipeDir(target.nfs, ctx.recipe.name), ctx.signal)
  if (live?.key === key) {
    await linkNodes(ctx, target, live.id)
    for (const node of ctx.recipe.nodes) await checkBootFiles(ctx, node, join(target.tftp, macDir(node.mac)))
    return { id: live.id, copied: false }
  }
  const id = newBuildId(key)
  await publishRoot(ctx, target, views.root, id, live)
  await publishBoot(ctx, target, views.boot, id, live)
  const record: BuildRecord = { id, key, recipe: ctx.recipe.name, image: ctx.recipe.image, created: new Date().toISOString() }
  await writeFile(join(buildsDir(target, ctx), `${id}.json`), `${JSON.stringify(record, null, 2)}\n`)
  await linkNodes(ctx, target, id)
  for (const node of ctx.recipe.nodes) await checkBootFiles(ctx, node, join(target.tftp, macDir(node.mac)))
  await switchSymlink(join(recipeDir(target.nfs, ctx.recipe.name), 'current'), `builds/${id}`)
  return { id, copied: true, bytes: await treeBytes(join(buildsDir(target, ctx), id), ctx.signal) }
}

function buildsDir(target: LocalTarget, ctx: LayerContext): string {
  return join(recipeDir(target.nfs, ctx.recipe.name), 'builds')
}

function tftpBuilds(target: LocalTarget, ctx: LayerContext): string {
  return join(target.tftp, 'builds', ctx.recipe.name)
}

async function publishRoot(ctx: LayerContext, target: LocalTarget, root: string, id: string, live: BuildRecord | undefined): Promise<void> {
  const builds = buildsDir(target, ctx)
  const partial = join(builds, `.${id}.partial`)
  await resumePartial(ctx, builds, partial)
  await mkdir(partial, { recursive: true })
  ctx.emit({ type: 'step', stage: 'publish', step: `root filesystem → ${join(builds, id)}` })
  await rsync(root, partial, {
    args: ROOTFS_ARGS,
    linkDest: live ? join(builds, live.id) : undefined,
    signal: ctx.signal,
    onProgress: (bytes) => ctx.emit({ type: 'progress', stage: 'publish', done: bytes, unit: 'bytes' }),
  })
  await rename(partial, join(builds, id))
}

/**
 * A publish that was cut off left a `.<id>.partial` tree: the newest one becomes this build's partial
 * tree (rsync then sends only what differs), older ones are removed. One build of a recipe runs at a
 * time (the build lock), so no other run is writing them.
 */
async function resumePartial(ctx: LayerContext, builds: string, partial: string): Promise<void> {
  const stale = (await readdir(builds).catch(() => [] as string[])).filter((name) => /^\..+\.partial$/.test(name)).sort()
  const newest = stale.pop()
  for (const name of stale) await rm(join(builds, name), { recursive: true, force: true })
  if (!newest) return
  ctx.emit({ type: 'info', stage: 'publish', message: `resuming the cut-off publish in ${join(builds, newest)}` })
  await rename(join(builds, newest), partial)
}

/** `builds/<recipe>/<id>/common/` holds the boot files; each node's directory hard-links them and has its own cmdline.txt. */
async function publishBoot(ctx: LayerContext, target: LocalTarget, boot: string, id: string, live: BuildRecord | undefined): Promise<void> {
  const partial = join(tftpBuilds(target, ctx), `.${id}.partial`)
  for (const name of await readdir(tftpBuilds(target, ctx)).catch(() => [] as string[])) {
    if (/^\..+\.partial$/.test(name)) await rm(join(tftpBuilds(target, ctx), name), { recursive: true, force: true })
  }
  const common = join(partial, 'common')
  await mkdir(common, { recursive: true })
  ctx.emit({ type: 'step', stage: 'publish', step: `boot files → ${join(tftpBuilds(target, ctx), id)}` })
  await rsync(boot, common, {
    args: ['--recursive', '--links', '--times', '--delete', '--chmod=Du=rwx,Dgo=rx,Fu=rw,Fgo=r'],
    linkDest: live ? join(tftpBuilds(target, ctx), live.id, 'common') : undefined,
    signal: ctx.signal,
  })
  const commonCmdline = parseCmdline(await readFile(join(common, 'cmdline.txt'), 'utf8'))
  const nfsroot = { server: ctx.recipe.netboot.nfs.server, path: join(ctx.recipe.netboot.nfs.path, ctx.recipe.name, 'builds', id) }
  for (const node of ctx.recipe.nodes) {
    const dir = join(partial, macDir(node.mac))
    await exec(['cp', '--archive', '--link', `${common}/.`, dir], { signal: ctx.signal })
    await replaceFile(join(dir, 'cmdline.txt'), nodeCmdline(commonCmdline, nfsroot, node.cmdline))
    if (node.config.length) await replaceFile(join(dir, 'config.txt'), await nodeConfig(join(common, 'config.txt'), node))
  }
  await rename(partial, join(tftpBuilds(target, ctx), id))
}

/** Warns when a node's tree lacks a file its model's firmware asks for: that node would not boot. */
async function checkBootFiles(ctx: LayerContext, node: Node, dir: string): Promise<void> {
  const names = await readdir(dir)
  const config = await readFile(join(dir, 'config.txt'), 'utf8').catch(() => '')
  const missing = missingBootFiles(node, names.map((name) => `${macDir(node.mac)}/${name}`), bootNames(config))
  if (missing.length) {
    ctx.emit({ type: 'warning', stage: 'publish', message: `${node.hostname} (${node.model}) cannot boot from this image: it lacks ${missing.join(', ')}` })
  }
}

/** The kernel and initramfs names config.txt sets, if any (`kernel=…`, `initramfs … followkernel`). */
export function bootNames(config: string): BootNames {
  const kernel = /^\s*kernel=(\S+)/m.exec(config)?.[1]
  const initramfs = /^\s*initramfs\s+(\S+)/m.exec(config)?.[1]
  return { ...(kernel ? { kernel } : {}), ...(initramfs ? { initramfs } : {}) }
}

/** The image's config.txt with the node's own lines appended under `[all]`. */
async function nodeConfig(file: string, node: Node): Promise<string> {
  const base = await readFile(file, 'utf8').catch(() => '')
  return `${base.trimEnd()}\n\n[all]\n# ${node.hostname} (pibake)\n${node.config.join('\n')}\n`
}

/** The file is a hard link shared with the other nodes: unlink it before writing this node's copy. */
async function replaceFile(file: string, content: string): Promise<void> {
  await unlink(file).catch(() => undefined)
  await writeFile(file, content, { mode: 0o644 })
}

/** `<tftp>/<mac>` → `builds/<recipe>/<id>/<mac>`, one atomic rename per node. */
async function linkNodes(ctx: LayerContext, target: LocalTarget, id: string): Promise<void> {
  for (const node of ctx.recipe.nodes) {
    const name = macDir(node.mac)
    await switchSymlink(join(target.tftp, name), join('builds', ctx.recipe.name, id, name))
  }
}
