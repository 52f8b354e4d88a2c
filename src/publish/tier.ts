/**
 * Publishing a build to several NFS servers (`netboot.nfs` a list, src/site/tier.ts): the root tree
 * goes to every server that is not drained, concurrently, each as `builds/<id>` beside its previous
 * builds; only when every one of them holds it are the nodes' TFTP links and each server's `current`
 * switched. A server that fails leaves every node on the build it had, on every server, and the new
 * trees are taken away again. The TFTP build holds one folder per node and server
 * (`<mac>@<server>`), each whose cmdline.txt names that server, so a drain is one rename per node.
 */
import { join } from 'node:path'
import PQueue from 'p-queue'
import { readdir } from 'node:fs/promises'
import { PibakeError } from '../errors.ts'
import type { LayerContext } from '../pipeline/stage.ts'
import { sendImage } from '../roots/publish.ts'
import { publishSboms } from '../sbom/stage.ts'
import { nodeFolder, nodeLinkTarget } from '../site/paths.ts'
import type { SiteNode } from '../site/record.ts'
import { macDir } from '../netboot/layout.ts'
import { snapshotForPublish, storeSignature, storeSnapshot } from '../verify/provenance.ts'
import type { ProvenanceFields } from '../verify/record.ts'
import { currentBuild, newBuildId, recipeDir, type BuildRecord } from './builds.ts'
import type { Host } from './host.ts'
import { publishIdentities } from './identity.ts'
import { seedPersist } from './persist.ts'
import { checkBootFiles, nodeFiles, publishBoot, publishRoot, type NodeFolders, type Published, type TreeTarget } from './trees.ts'

/** One NFS server of the tier: its name (what cmdline.txt says), where pibake writes, the path it exports. */
export interface TierServerTarget {
  readonly server: string
  readonly nfs: { readonly host: Host; readonly path: string }
  /** `netboot.nfs[i].path`: the folder as the server exports it. */
  readonly exported: string
}

export interface TierTarget extends Omit<TreeTarget, 'nfs'> {
  /** The servers to publish to (the drained ones left out), in `netboot.nfs`'s order. */
  readonly servers: readonly TierServerTarget[]
  /** The recipe's nodes with their servers (the site's assignment). */
  readonly nodes: readonly SiteNode[]
}

export type TierPublished = Published & { readonly servers: readonly string[] }

export async function publishTier(ctx: LayerContext, target: TierTarget, views: { root: string; boot: string }, key: string): Promise<TierPublished> {
  const names = target.servers.map((s) => s.server)
  // The first server makes the nodes' host keys (once, on this machine); the others then only copy them.
  const [first, ...rest] = target.servers
  const lives = [await prepareServer(ctx, first!, views.root), ...(await Promise.all(rest.map((s) => prepareServer(ctx, s, views.root))))]
  const bootNames = await readdir(views.boot)
  const live = lives[0]
  if (live?.key === key && lives.every((l) => l?.id === live.id)) {
    await linkNodes(ctx, target, live.id)
    await checkBootFiles(ctx, bootNames, views.boot)
    return { id: live.id, copied: false, servers: names }
  }
  const id = await unusedTierId(target, ctx.recipe.name, key)
  const snapshot = snapshotForPublish(ctx, views.root)
  // The read set that orders the image is where try records it: beside the first server's builds.
  const image = target.image && (await target.image(target.servers[0]!.nfs))
  const queue = new PQueue({ concurrency: target.servers.length })
  const results = await Promise.allSettled(target.servers.map((server, i) => queue.add(() => publishServer(serverContext(ctx, server), server, views.root, id, lives[i], key, snapshot, target, image))))
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${target.servers[i]!.server}: ${(r.reason as Error).message}`] : []))
  if (failed.length) {
    await snapshot.catch(() => undefined)
    // Every node stays on the build it had: the new trees go, `current` and the links never moved.
    await Promise.allSettled(target.servers.map((s) => s.nfs.host.files.remove(join(recipeDir(s.nfs.path, ctx.recipe.name), 'builds', id))))
    throw new PibakeError(`build ${id} could not be published to every NFS server, so no node was switched to it: ${failed.join('; ')}`, 'fix that server (or drain it: pibake drain <server>) and publish again')
  }
  const root = (results[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof publishRoot>>>).value
  const boot = await publishBoot(ctx, target.tftp, views.boot, id, lives[0], tierFolders(target))
  await linkNodes(ctx, target, id)
  await checkBootFiles(ctx, bootNames, views.boot)
  for (const server of target.servers) await server.nfs.host.files.switchSymlink(join(recipeDir(server.nfs.path, ctx.recipe.name), 'current'), `builds/${id}`)
  return { id, copied: true, root, boot, servers: names }
}

/** The recipe's folder on a server, each node's identity there, every node's persisted folders seeded; its live build. */
async function prepareServer(ctx: LayerContext, server: TierServerTarget, root: string): Promise<BuildRecord | undefined> {
  const sctx = serverContext(ctx, server)
  const { host, path } = server.nfs
  const recipeRoot = recipeDir(path, ctx.recipe.name)
  await host.files.mkdir(recipeRoot)
  await host.confine(path, recipeRoot)
  // Every node's identity and persisted folders on every server: a drain moves a node without copying.
  await publishIdentities(ctx.workspace.out, ctx.recipe.name, ctx.recipe.nodes, ctx.recipe.netboot.hostKeys, host, recipeRoot, join(sctx.dir, 'identity'), ctx.signal)
  const seeded = await seedPersist({ host, nfs: path, root, nodes: ctx.recipe.nodes, folders: ctx.recipe.netboot.persist ?? [], signal: ctx.signal })
  if (seeded.length) sctx.emit({ type: 'info', stage: 'publish', message: `persisted folders seeded from the build: ${seeded.join(', ')}` })
  return currentBuild(host.files, path, ctx.recipe.name)
}

async function publishServer(ctx: LayerContext, server: TierServerTarget, root: string, id: string, live: BuildRecord | undefined, key: string, snapshot: ReturnType<typeof snapshotForPublish>, target: TierTarget, image: Awaited<ReturnType<NonNullable<TreeTarget['image']>>> | undefined) {
  const { host } = server.nfs
  const builds = join(recipeDir(server.nfs.path, ctx.recipe.name), 'builds')
  const stats = await publishRoot(ctx, server.nfs, root, id, live)
  if (image) await sendImage(ctx, server.nfs, image, id)
  const provenance = await storeSnapshot(host.files, builds, id, snapshot)
  await publishSboms(ctx, host.files, builds, id, root)
  const record: BuildRecord & ProvenanceFields = { id, key, recipe: ctx.recipe.name, image: ctx.recipe.image, created: new Date().toISOString(), ...provenance }
  const recordText = `${JSON.stringify(record, null, 2)}\n`
  await host.files.writeAtomic(join(builds, `${id}.json`), recordText)
  if (target.sign) await storeSignature(host.files, builds, id, recordText, target.sign.key, ctx.signal)
  return stats
}

/** A new build id free on every server and on the boot server. */
async function unusedTierId(target: TierTarget, recipe: string, key: string): Promise<string> {
  const taken = new Set<string>()
  for (const server of target.servers) for (const name of await server.nfs.host.files.list(join(recipeDir(server.nfs.path, recipe), 'builds'))) taken.add(name.replace(/\.json$/, ''))
  for (const name of await target.tftp.host.files.list(join(target.tftp.path, 'builds', recipe))) taken.add(name)
  for (let at = Date.now(); ; at += 1000) {
    const id = newBuildId(key, new Date(at))
    if (!taken.has(id)) return id
  }
}

/** Each node's folder for each server: `<mac>@<server>`, its cmdline.txt naming that server and its path. */
function tierFolders(target: TierTarget): NodeFolders {
  return async (ctx, boot, id) => {
    const folders: { name: string; own: Record<string, string> }[] = []
    for (const server of target.servers) {
      // pibake.nfs=: the node's server and its folder, for what mounts from it after the root (netboot.persist).
      const own = await nodeFiles(ctx, boot, join(server.exported, ctx.recipe.name, 'builds', id), server.server, [`pibake.nfs=${server.server}:${server.exported}`])
      ctx.recipe.nodes.forEach((node, i) => folders.push({ name: nodeFolder(node.mac, server.server), own: own[i]! }))
    }
    return folders
  }
}

/** `<tftp>/<mac>` → `builds/<recipe>/<id>/<mac>@<its server>`, one rename per node. */
async function linkNodes(ctx: LayerContext, target: TierTarget, id: string): Promise<void> {
  const links = target.nodes.map((node) => ({ link: join(target.tftp.path, macDir(node.mac)), target: nodeLinkTarget(ctx.recipe.name, id, node.mac, node.nfs) }))
  await target.tftp.host.files.switchSymlinks(links)
}

/** The stage context for one server: its messages labelled, its own staging folder (its tree's state, its identities). */
function serverContext(ctx: LayerContext, server: TierServerTarget): LayerContext {
  const label = `nfs ${server.server}`
  return {
    ...ctx,
    dir: join(ctx.dir, `nfs-${server.server}`),
    emit: (event) => {
      if (event.type === 'info' || event.type === 'warning') ctx.emit({ ...event, message: `${label}: ${event.message}` })
      else if (event.type === 'step') ctx.emit({ ...event, step: `${label}: ${event.step}` })
      else if (event.type === 'progress') ctx.emit({ ...event, label })
      else ctx.emit(event)
    },
  }
}
