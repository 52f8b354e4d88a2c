/**
 * Publishing a build's trees to a target's hosts (this machine or others over SSH): the root
 * filesystem into a new build folder next to the previous ones (unchanged files hard-linked there,
 * not sent), the boot files into a new TFTP build folder with one folder per node, then every node's
 * TFTP link and `current` switched with one rename each. Running clients keep the build they
 * booted; nothing live is modified in place. A transfer that was cut off resumes from its `.partial`.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { nodeCmdline, parseCmdline } from '../netboot/cmdline.ts'
import { macDir, missingBootFiles, type BootNames } from '../netboot/layout.ts'
import type { LayerContext } from '../pipeline/stage.ts'
import type { Node } from '../recipe/types.ts'
import { ROOTFS_ARGS, type RsyncStats } from '../system/rsync.ts'
import { currentBuild, newBuildId, recipeDir, type BuildRecord } from './builds.ts'
import type { Host } from './host.ts'
import { layerPaths } from './delta.ts'
import { PARTIAL_BUILD } from '../site/names.ts'
import { publishIdentities } from './identity.ts'
import { seedPersist } from './persist.ts'
import { publishSboms } from '../sbom/stage.ts'
import { buildArgs } from '../roots/cmdline.ts'
import { rootMode } from '../roots/modes.ts'
import { sendImage } from '../roots/publish.ts'
import type { RootImage } from '../roots/image.ts'
import type { ImageSource } from '../roots/publish.ts'
import { snapshotForPublish, storeSignature, storeSnapshot } from '../verify/provenance.ts'
import type { ProvenanceFields } from '../verify/record.ts'

export interface TreeTarget {
  readonly nfs: { readonly host: Host; readonly path: string }
  readonly tftp: { readonly host: Host; readonly path: string }
  /** The SSH key that signs the build's record, when the target signs. */
  readonly sign?: { readonly key: string } | undefined
  /** The build's squashfs image (made once for every target), when the root mode needs one. */
  readonly image?: ((nfs: ImageSource) => Promise<RootImage>) | undefined
}

export interface Published {
  readonly id: string
  /** False when the same content was already live and nothing was copied. */
  readonly copied: boolean
  /** What the root filesystem's transfer did (absent when nothing was copied). */
  readonly root?: RsyncStats
  /** What the boot files' transfer did. */
  readonly boot?: RsyncStats
}

/** A cut-off publish's tree, `.<build id>.partial`: listed on the host, so only names of this form are resumed or removed. */

export async function publishTrees(ctx: LayerContext, target: TreeTarget, views: { root: string; boot: string }, key: string): Promise<Published> {
  const { nfs, tftp } = target
  const recipeRoot = recipeDir(nfs.path, ctx.recipe.name)
  await nfs.host.files.mkdir(recipeRoot)
  await nfs.host.confine(nfs.path, recipeRoot)
  const live = await currentBuild(nfs.host.files, nfs.path, ctx.recipe.name)
  await publishIdentities(ctx.workspace.out, ctx.recipe.name, ctx.recipe.nodes, ctx.recipe.netboot.hostKeys, nfs.host, recipeRoot, join(ctx.dir, 'identity'), ctx.signal)
  // Before any node is sent to the build: each finds its persisted folders there when it boots.
  const seeded = await seedPersist({ host: nfs.host, nfs: nfs.path, root: views.root, nodes: ctx.recipe.nodes, folders: ctx.recipe.netboot.persist ?? [], signal: ctx.signal })
  if (seeded.length) ctx.emit({ type: 'info', stage: 'publish', message: `persisted folders seeded from the build: ${seeded.join(', ')}` })
  const bootNames = await readdir(views.boot)
  if (live?.key === key) {
    await linkNodes(ctx, tftp, live.id)
    await checkBootFiles(ctx, bootNames, views.boot)
    return { id: live.id, copied: false }
  }
  const id = await unusedBuildId(target, ctx.recipe.name, key)
  // Taken while the tree is copied: what the build held, stored with it for pibake verify.
  const snapshot = snapshotForPublish(ctx, views.root)
  const [root, boot] = await copyBoth(ctx, { nfs, tftp }, views, id, live).catch(async (error: unknown) => {
    // Not left reading the tree while the run unmounts it.
    await snapshot.catch(() => undefined)
    throw error
  })
  if (target.image) await sendImage(ctx, nfs, await target.image(nfs), id)
  const provenance = await storeSnapshot(nfs.host.files, join(recipeRoot, 'builds'), id, snapshot)
  await publishSboms(ctx, nfs.host.files, join(recipeRoot, 'builds'), id, views.root)
  const record: BuildRecord & ProvenanceFields = { id, key, recipe: ctx.recipe.name, image: ctx.recipe.image, created: new Date().toISOString(), ...provenance }
  const recordText = `${JSON.stringify(record, null, 2)}\n`
  await nfs.host.files.writeAtomic(join(recipeRoot, 'builds', `${id}.json`), recordText)
  if (target.sign) await storeSignature(nfs.host.files, join(recipeRoot, 'builds'), id, recordText, target.sign.key, ctx.signal)
  await linkNodes(ctx, tftp, id)
  await checkBootFiles(ctx, bootNames, views.boot)
  await nfs.host.files.switchSymlink(join(recipeRoot, 'current'), `builds/${id}`)
  return { id, copied: true, root, boot }
}

async function copyBoth(ctx: LayerContext, target: TreeTarget, views: { root: string; boot: string }, id: string, live: BuildRecord | undefined): Promise<[RsyncStats, RsyncStats]> {
  const root = await publishRoot(ctx, target.nfs, views.root, id, live)
  return [root, await publishBoot(ctx, target.tftp, views.boot, id, live)]
}

/**
 * A new build's id, named by this second and its content: the next free second when a build of
 * that name is already on the NFS or the boot server. Builds of the same recipe with the same
 * content a second apart (one, another, the first again, as fast as a small image goes) would
 * otherwise share an id, and renaming the new tree onto the old one fails.
 */
export async function unusedBuildId(target: TreeTarget, recipe: string, key: string): Promise<string> {
  // One listing per server, not a question per name: over SSH each is a round trip.
  const onNfs = new Set(await target.nfs.host.files.list(join(recipeDir(target.nfs.path, recipe), 'builds')))
  const onTftp = new Set(await target.tftp.host.files.list(join(target.tftp.path, 'builds', recipe)))
  for (let at = Date.now(); ; at += 1000) {
    const id = newBuildId(key, new Date(at))
    if (!onNfs.has(id) && !onNfs.has(`${id}.json`) && !onTftp.has(id)) return id
  }
}

export async function publishRoot(ctx: LayerContext, nfs: TreeTarget['nfs'], root: string, id: string, live: BuildRecord | undefined): Promise<RsyncStats> {
  const builds = join(recipeDir(nfs.path, ctx.recipe.name), 'builds')
  const partial = join(builds, `.${id}.partial`)
  const resumed = await resumePartial(ctx, nfs.host, builds, partial)
  await nfs.host.files.mkdir(partial)
  await nfs.host.confine(nfs.path, partial)
  ctx.emit({ type: 'step', stage: 'publish', step: `root filesystem → ${nfs.host.files.describe(join(builds, id))}` })
  const layers = await layerPaths((await ctx.workspace.lowers('root', ctx.workspace.layers.length)).slice(0, -1))
  const previous = live && { path: join(builds, live.id), ...(await knownChanges(ctx, builds, live.id, layers)) }
  // A resumed publish is rsync's to finish: it sends only what the cut-off one lacks.
  let stats = resumed ? undefined : await nfs.host.copyTree(root, partial, { previous, signal: ctx.signal })
  if (stats) {
    const how = previous ? `hard links to build ${live!.id}, ${previous.changed?.length} paths of its layers and this build's compared` : 'copied with cp -a'
    ctx.emit({ type: 'info', stage: 'publish', message: `root filesystem: ${how}` })
  } else {
    await nfs.host.files.mkdir(partial)
    stats = await nfs.host.sync(root, partial, {
      // A file cut off mid-transfer is kept aside, and the next run continues it.
      args: [...ROOTFS_ARGS, '--partial-dir=.rsync-partial'],
      linkDest: previous?.path,
      signal: ctx.signal,
      onProgress: (bytes, _percent, files) => ctx.emit({ type: 'progress', stage: 'publish', done: bytes, unit: 'bytes', files }),
    })
  }
  await nfs.host.files.rename(partial, join(builds, id))
  await writeTreeState(ctx.dir, { builds, id, image: ctx.recipe.image.sha256, layers, totalBytes: stats.totalBytes })
  return stats
}

/**
 * What this machine knows of a build it published to `builds`: the paths its layers held (outside
 * them it is the image's root). With this build's own, they are every path in which the two can
 * differ, when both come from the same image.
 */
interface TreeState {
  readonly builds: string
  readonly id: string
  /** The image's sha256: the root partition under the layers. */
  readonly image: string
  readonly layers: readonly string[]
  readonly totalBytes: number
}

const TREE_STATE = 'tree.json'

async function knownChanges(ctx: LayerContext, builds: string, liveId: string, layers: readonly string[]): Promise<{ totalBytes: number; changed?: string[] }> {
  const known = await readFile(join(ctx.dir, TREE_STATE), 'utf8').then((text) => JSON.parse(text) as TreeState, () => undefined)
  if (!known || known.builds !== builds || known.id !== liveId || known.image !== ctx.recipe.image.sha256) return { totalBytes: 0 }
  return { totalBytes: known.totalBytes, changed: [...new Set([...known.layers, ...layers])].sort() }
}

async function writeTreeState(dir: string, state: TreeState): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, `${TREE_STATE}.new`), JSON.stringify(state))
  await rename(join(dir, `${TREE_STATE}.new`), join(dir, TREE_STATE))
}

/**
 * A publish that was cut off left a `.<id>.partial` tree: the newest one becomes this build's partial
 * tree (rsync then sends only what differs), older ones are removed. One publish of a recipe to a
 * host runs at a time (the publish lock), so no other run is writing them.
 */
async function resumePartial(ctx: LayerContext, host: Host, builds: string, partial: string): Promise<boolean> {
  const stale = (await host.files.list(builds)).filter((name) => PARTIAL_BUILD.test(name)).sort()
  const newest = stale.pop()
  for (const name of stale) await host.files.remove(join(builds, name))
  if (!newest) return false
  ctx.emit({ type: 'info', stage: 'publish', message: `resuming the cut-off publish in ${host.files.describe(join(builds, newest))}` })
  await host.files.rename(join(builds, newest), partial)
  return true
}

/**
 * `builds/<recipe>/<id>/common/` holds the boot files; each node's folder hard-links them (made on
 * the host, nothing sent twice) and then gets its own cmdline.txt (and config.txt), sent in one
 * transfer that replaces those links with files of their own.
 */
export async function publishBoot(ctx: LayerContext, tftp: TreeTarget['tftp'], boot: string, id: string, live: BuildRecord | undefined, folders: NodeFolders = macFolders): Promise<RsyncStats> {
  const builds = join(tftp.path, 'builds', ctx.recipe.name)
  const partial = join(builds, `.${id}.partial`)
  for (const name of (await tftp.host.files.list(builds)).filter((n) => PARTIAL_BUILD.test(n))) await tftp.host.files.remove(join(builds, name))
  const common = join(partial, 'common')
  await tftp.host.files.mkdir(common)
  await tftp.host.confine(tftp.path, partial)
  ctx.emit({ type: 'step', stage: 'publish', step: `boot files → ${tftp.host.files.describe(join(builds, id))}` })
  const mode = '--chmod=Du=rwx,Dgo=rx,Fu=rw,Fgo=r'
  const stats = await tftp.host.sync(boot, common, {
    args: ['--recursive', '--links', '--times', '--delete', mode],
    linkDest: live ? join(builds, live.id, 'common') : undefined,
    signal: ctx.signal,
  })
  const own = await folders(ctx, boot, id)
  await tftp.host.linkCopies(common, own.map((folder) => ({ dir: join(partial, folder.name), own: folder.own })), ctx.signal)
  await tftp.host.files.rename(partial, join(builds, id))
  return stats
}

/** The folders of a TFTP build beside `common/`, each with the files of its own (a node's cmdline.txt, config.txt). */
export type NodeFolders = (ctx: LayerContext, boot: string, id: string) => Promise<{ name: string; own: Record<string, string> }[]>

/** One folder per node, named by its MAC, booting the build from the NFS server. */
const macFolders: NodeFolders = async (ctx, boot, id) => {
  const own = await nodeFiles(ctx, boot, join(ctx.recipe.netboot.nfs.path, ctx.recipe.name, 'builds', id))
  return ctx.recipe.nodes.map((node, index) => ({ name: macDir(node.mac), own: own[index]! }))
}

/**
 * Each node's own cmdline.txt (its build's NFS root on `server`, default the NFS server) and
 * config.txt (its extra lines), in the order of the recipe's nodes.
 */
export async function nodeFiles(ctx: LayerContext, boot: string, nfsPath: string, server = ctx.recipe.netboot.nfs.server, extra: readonly string[] = []): Promise<Record<string, string>[]> {
  const commonCmdline = parseCmdline(await readFile(join(boot, 'cmdline.txt'), 'utf8'))
  const config = await readFile(join(boot, 'config.txt'), 'utf8').catch(() => '')
  const nfsroot = { server, path: nfsPath }
  const rootArgs = buildArgs(rootMode(ctx.recipe.netboot), nfsroot.server, nfsPath, basename(nfsPath))
  return ctx.recipe.nodes.map((node) => ({
    'cmdline.txt': nodeCmdline([...commonCmdline, ...rootArgs, ...extra], nfsroot, node.cmdline),
    ...(node.config.length ? { 'config.txt': nodeConfig(config, node) } : {}),
  }))
}

/** Warns when a node's tree lacks a file its model's firmware asks for: that node would not boot. */
export async function checkBootFiles(ctx: LayerContext, names: readonly string[], boot: string): Promise<void> {
  const common = await readFile(join(boot, 'config.txt'), 'utf8').catch(() => '')
  for (const node of ctx.recipe.nodes) {
    const config = node.config.length ? `${common}\n${node.config.join('\n')}` : common
    const missing = missingBootFiles(node, names.map((name) => `${macDir(node.mac)}/${name}`), bootNames(config))
    if (missing.length) {
      ctx.emit({ type: 'warning', stage: 'publish', message: `${node.hostname} (${node.model}) cannot boot from this image: it lacks ${missing.join(', ')}` })
    }
  }
}

/** The kernel and initramfs names config.txt sets, if any (`kernel=…`, `initramfs … followkernel`). */
export function bootNames(config: string): BootNames {
  const kernel = /^\s*kernel=(\S+)/m.exec(config)?.[1]
  const initramfs = /^\s*initramfs\s+(\S+)/m.exec(config)?.[1]
  return { ...(kernel ? { kernel } : {}), ...(initramfs ? { initramfs } : {}) }
}

/** The image's config.txt (`base`) with the node's own lines appended under `[all]`. */
function nodeConfig(base: string, node: Node): string {
  return `${base.trimEnd()}\n\n[all]\n# ${node.hostname} (pibake)\n${node.config.join('\n')}\n`
}

/** `<tftp>/<mac>` → `builds/<recipe>/<id>/<mac>`, one atomic rename per node. */
async function linkNodes(ctx: LayerContext, tftp: TreeTarget['tftp'], id: string): Promise<void> {
  const links = ctx.recipe.nodes.map((node) => macDir(node.mac)).map((name) => ({ link: join(tftp.path, name), target: join('builds', ctx.recipe.name, id, name) }))
  await tftp.host.files.switchSymlinks(links)
}
