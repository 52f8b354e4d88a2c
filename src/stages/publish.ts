/**
 * publish: copies the finished root and boot trees to every target (concurrently; one failing target
 * does not stop the others), then hands the recipe to the target's site, which records it and
 * renders the server configuration (dnsmasq.conf, exports, ganesha.conf, hosts) from every recipe
 * published there, and runs the target's reload commands for the files that changed. Never cached:
 * it compares the live build with what it would publish and copies only when they differ.
 */
import { join } from 'node:path'
import PQueue from 'p-queue'
import { PibakeError, PreflightError, StageError } from '../errors.ts'
import { formatBytes } from '../pipeline/events.ts'
import type { LayerContext, Stage } from '../pipeline/stage.ts'
import { recipeDir } from '../publish/builds.ts'
import type { Host } from '../publish/host.ts'
import { HostPool, sameHost } from '../publish/hosts.ts'
import { lockPublish, lockSite } from '../publish/lock.ts'
import { publishTrees, type Published, type TreeTarget } from '../publish/trees.ts'
import { PI3_CONF } from '../netboot/pi3-split.ts'
import { imageMaker } from '../roots/publish.ts'
import { fleetBootLoad, folderTree } from '../shrink/per-boot.ts'
import type { PublishTarget } from '../recipe/types.ts'
import { refuseFormerConfig } from '../site/former-config.ts'
import { planSite, recordPublish, type SitePublished } from '../site/publish.ts'
import type { ConfigFile, SiteConfigFile } from '../site/render.ts'
import type { BootLoadRecord, SiteRecord } from '../site/record.ts'
import { publishTier, type TierPublished, type TierTarget } from '../publish/tier.ts'
import { openSite } from '../site/store.ts'
import { requirePrograms } from '../system/preflight.ts'
import { UnreachableError } from '../system/ssh.ts'

export const publish: Stage = {
  name: 'publish',
  kind: 'final',
  version: 3,
  async verify(ctx) {
    await requirePrograms(['rsync', 'cp'])
    if (ctx.recipe.publish.some((t) => [t.nfs, t.tftp, t.config].some((d) => d.kind === 'ssh'))) await requirePrograms(['ssh', 'ssh-keygen', 'ssh-keyscan'])
    if (ctx.recipe.publish.some((t) => t.sign)) await requirePrograms(['ssh-keygen'])
    const several = ctx.recipe.publish.length > 1
    for (const [index, target] of ctx.recipe.publish.entries()) {
      const hosts = new HostPool()
      try {
        for (const [i, nfs] of (target.nfsTier ?? [target.nfs]).entries()) await reachable(hosts.get(nfs), nfs.path, target.nfsTier ? `publish[${index}].nfs[${i}]` : `publish[${index}].nfs`, true)
        await reachable(hosts.get(target.tftp), target.tftp.path, `publish[${index}].tftp`, false)
        // Before anything is copied: the recipe must fit the site it joins, and that site be the one published before.
        await refuseFormerConfig(hosts, target, `publish[${index}].config`)
        await planSite(openSite(target.config, hosts), ctx.recipe, target, ctx.options.take)
        if (insideTftp(target)) ctx.emit({ type: 'warning', stage: 'publish', message: `publish[${index}].config: ${target.config.path} is inside the TFTP root ${target.tftp.path}: any host on the LAN can read the site's records and dnsmasq.conf (leave config out to keep them beside it)` })
      } catch (error) {
        // A host that is down only fails its own target; an untrusted key or a conflict stops the build.
        if (!several || !(error instanceof PreflightError && error.cause instanceof UnreachableError)) throw error
        ctx.emit({ type: 'warning', stage: 'publish', message: `${error.message}: the other targets are published, this one fails` })
      } finally {
        await hosts.close()
      }
    }
  },
  async inputs(ctx) {
    return { nodes: ctx.recipe.nodes, netboot: ctx.recipe.netboot, publish: ctx.recipe.publish }
  },
  async run(ctx) {
    const views = await ctx.workspace.mountFinal(ctx.cleanup)
    const targets = ctx.recipe.publish
    const queue = new PQueue({ concurrency: targets.length })
    const image = imageMaker(ctx, views.root)
    // What the nodes pull per boot sizes each site's dnsmasq.conf (src/netboot/sizing.ts): measured once, from the files as published.
    const boot = await fleetBootLoad(folderTree(views.boot), ctx.recipe.nodes)
    const results = await Promise.allSettled(targets.map((target, index) => queue.add(() => publishTarget(ctx, target, index, views, image, boot))))
    const failed = results.flatMap((result, index) => (result.status === 'rejected' ? [`${targetName(targets[index]!, index)}: ${message(result.reason)}`] : []))
    if (failed.length === 1 && targets.length === 1) throw (results[0] as PromiseRejectedResult).reason
    if (failed.length) throw new StageError('publish', `${failed.length} of ${targets.length} targets failed\n${failed.map((f) => `  - ${f}`).join('\n')}`, 'the other targets were published; fix these and publish again')
  },
}

/** Whether the site's configuration folder is served by TFTP: the TFTP root or a folder in it, on the same host. */
function insideTftp(target: PublishTarget): boolean {
  const { config, tftp } = target
  return sameHost(config, tftp) && (config.path === tftp.path || config.path.startsWith(`${tftp.path.replace(/\/$/, '')}/`))
}

/** The destination's host answers, and the NFS host has rsync (a root filesystem needs it). */
async function reachable(host: Host, path: string, field: string, needsRsync: boolean): Promise<void> {
  try {
    await host.files.exists(path)
  } catch (error) {
    if (error instanceof PibakeError) throw new PreflightError(`${field}: ${error.message}`, error.hint, { cause: error })
    throw error
  }
  if (needsRsync && !(await host.hasRsync())) {
    throw new PreflightError(`${field}: ${host.name} has no rsync, which a root filesystem needs (hard links, ACLs, xattrs)`, 'install it there: apt-get install rsync')
  }
}

async function publishTarget(ctx: LayerContext, target: PublishTarget, index: number, views: { root: string; boot: string }, image: TreeTarget['image'], boot: BootLoadRecord | undefined): Promise<void> {
  const hosts = new HostPool()
  const label = ctx.recipe.publish.length > 1 ? targetName(target, index) : undefined
  const tctx = labelled(ctx, label, join(ctx.dir, `target-${index}`))
  try {
    const nfs = { host: hosts.get(target.nfs), path: target.nfs.path }
    const tftp = { host: hosts.get(target.tftp), path: target.tftp.path }
    const release = await lockPublish(nfs.host.files, recipeDir(nfs.path, ctx.recipe.name), `${ctx.recipe.name} on ${nfs.host.name}`)
    try {
      // Another recipe publishing to the same site goes first, and this one sees its record.
      const onWait = (holder: string) => tctx.emit({ type: 'info', stage: 'publish', message: `waiting for another publish to the site ${destinationName(target.config)} (${holder})` })
      const releaseSite = await lockSite(hosts.get(target.config).files, target.config.path, { signal: ctx.signal, onWait })
      let published: { result: Published; recorded: SitePublished }
      try {
        await refuseFormerConfig(hosts, target, `publish[${index}].config`)
        const site = await planSite(openSite(target.config, hosts), ctx.recipe, target, ctx.options.take)
        const tier = ctx.recipe.netboot.nfsTier && tierTarget(ctx, target, hosts, site.candidate, { tftp, sign: target.sign, image })
        const result = tier ? await publishTier(tctx, tier, views, ctx.key) : await publishTrees(tctx, { nfs, tftp, sign: target.sign, image }, views, ctx.key)
        ctx.emit({ type: 'published', stage: 'publish', target: destinationName(target.nfs), id: result.id, copied: result.copied, bytes: (result.root?.literalBytes ?? 0) + (result.boot?.literalBytes ?? 0) })
        const mirror = sameHost(target.nfs, target.config) ? undefined : { files: nfs.host.files, dir: nfs.path }
        const servers = 'servers' in result ? (result as TierPublished).servers : undefined
        published = { result, recorded: await recordPublish(site, result.id, result.root?.totalBytes, mirror, new Date(), servers, boot) }
      } finally {
        await releaseSite()
      }
      report(tctx, target, published.result, published.recorded)
      await reload(tctx, target, hosts, published.recorded.configChanged, published.result.id)
    } finally {
      await release()
    }
  } finally {
    await hosts.close()
  }
}

const RELOADED: Record<keyof PublishTarget['reload'], ConfigFile> = { dnsmasq: 'dnsmasq.conf', exports: 'exports', ganesha: 'ganesha.conf', hosts: 'hosts' }

/**
 * The target's reload commands for the files that changed: NFS ones on the NFS host (each server's, with several), the others on the configuration's.
 * `dnsmasq` runs when dnsmasq.conf or the Pi 3s' dnsmasq-pi3.conf changed (it restarts both).
 */
async function reload(ctx: LayerContext, target: PublishTarget, hosts: HostPool, changed: readonly SiteConfigFile[], id: string): Promise<void> {
  const servers = ctx.recipe.netboot.nfsTier ?? []
  for (const [name, command] of Object.entries(target.reload) as [keyof PublishTarget['reload'], string][]) {
    const nfsFile = name === 'exports' || name === 'ganesha'
    const places = nfsFile && servers.length
      ? servers.flatMap((s, i) => (changed.includes(`nfs/${s.server}/${RELOADED[name]}` as SiteConfigFile) ? [target.nfsTier![i]!] : []))
      : changed.includes(RELOADED[name]) || (name === 'dnsmasq' && changed.includes(PI3_CONF)) ? [nfsFile ? target.nfs : target.config] : []
    for (const place of places) await reloadOn(ctx, hosts.get(place), name, command, id)
  }
}

async function reloadOn(ctx: LayerContext, host: Host, name: string, command: string, id: string): Promise<void> {
  ctx.emit({ type: 'step', stage: 'publish', step: `reload ${name} on ${host.name}: ${command}` })
  try {
    await host.shell(command, { signal: ctx.signal, onLine: (line) => ctx.emit({ type: 'log', stage: 'publish', line }) })
  } catch (error) {
    throw new StageError('publish', `build ${id} is live, but reloading ${name} on ${host.name} failed: ${message(error)}`, `fix it there and run the command again: ${command}`)
  }
}

/** With several NFS servers: the ones not drained, each with its destination's host, and the site's assignment of the nodes. */
function tierTarget(ctx: LayerContext, target: PublishTarget, hosts: HostPool, candidate: SiteRecord, rest: Omit<TierTarget, 'servers' | 'nodes'>): TierTarget {
  const drained = candidate.drained ?? []
  const servers = (ctx.recipe.netboot.nfsTier ?? []).flatMap((s, i) => {
    const destination = target.nfsTier![i]!
    return drained.includes(s.server) ? [] : [{ server: s.server, exported: s.path, nfs: { host: hosts.get(destination), path: destination.path } }]
  })
  return { ...rest, servers, nodes: candidate.nodes }
}

function report(ctx: LayerContext, target: PublishTarget, result: Published, recorded: SitePublished): void {
  const info = (text: string) => ctx.emit({ type: 'info', stage: 'publish', message: text })
  const where = join(recipeDir(target.nfs.path, ctx.recipe.name), 'builds', result.id)
  if (!result.copied) info(`build ${result.id} is already live at ${where}: nothing to copy, 0 bytes sent`)
  else {
    const root = result.root!
    info(`published build ${result.id} (${formatBytes(root.totalBytes)}) to ${where}: ${root.transferred} files, ${formatBytes(root.literalBytes)} of content sent`)
  }
  if (recorded.configChanged.length) info(`site ${target.config.path}: wrote ${recorded.configChanged.join(', ')}`)
  if (recorded.released.length) info(`nodes no longer served by ${ctx.recipe.name}: ${recorded.released.join(', ')}`)
  for (const build of recorded.removed) info(`removed old build ${build.id} (${build.why})`)
}

/** The stage context for one target: its messages and progress labelled, its own staging folder. */
function labelled(ctx: LayerContext, label: string | undefined, dir: string): LayerContext {
  if (!label) return { ...ctx, dir }
  return {
    ...ctx,
    dir,
    emit: (event) => {
      if (event.type === 'progress') ctx.emit({ ...event, label })
      else if (event.type === 'info' || event.type === 'warning') ctx.emit({ ...event, message: `${label}: ${event.message}` })
      else if (event.type === 'step') ctx.emit({ ...event, step: `${label}: ${event.step}` })
      else ctx.emit(event)
    },
  }
}

/** `/srv/nfs` or `user@host:/srv/nfs`: a target in the build summary. */
function destinationName(destination: PublishTarget['nfs']): string {
  return destination.kind === 'ssh' ? `${destination.user}@${destination.host}:${destination.path}` : destination.path
}

function targetName(target: PublishTarget, index: number): string {
  return target.nfs.kind === 'ssh' ? `${target.nfs.user}@${target.nfs.host}:${target.nfs.path}` : `target ${index} (${target.nfs.path})`
}

function message(error: unknown): string {
  return error instanceof PibakeError && error.hint ? `${error.message} (${error.hint})` : error instanceof Error ? error.message : String(error)
}

