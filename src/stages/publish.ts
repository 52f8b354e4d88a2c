/**
 * publish: copies the finished root and boot trees to every target, then hands the recipe to the
 * target's site, which records it and renders the server configuration (dnsmasq.conf, exports,
 * ganesha.conf, hosts) from every recipe published there. Never cached: it compares the live build
 * with what it would publish and copies only when they differ.
 */
import { join } from 'node:path'
import { PreflightError } from '../errors.ts'
import { formatBytes } from '../pipeline/events.ts'
import type { LayerContext, Stage } from '../pipeline/stage.ts'
import { recipeDir } from '../publish/builds.ts'
import { publishLocal } from '../publish/local.ts'
import type { Destination, PublishTarget } from '../recipe/types.ts'
import { planSite, recordPublish } from '../site/publish.ts'
import { requirePrograms } from '../system/preflight.ts'

export const publish: Stage = {
  name: 'publish',
  kind: 'final',
  version: 2,
  async verify(ctx) {
    await requirePrograms(['rsync', 'cp', 'du'])
    for (const [index, target] of ctx.recipe.publish.entries()) {
      for (const [field, destination] of Object.entries(destinations(target))) {
        if (destination.kind !== 'local') {
          throw new PreflightError(`publish[${index}].${field}: publishing over SSH is not supported yet`, 'publish to a local directory (an NFS export mounted here works too)')
        }
      }
      // Before anything is copied: the recipe must fit the site it joins.
      await planSite(ctx.recipe, target, ctx.options.take)
    }
  },
  async inputs(ctx) {
    return { nodes: ctx.recipe.nodes, netboot: ctx.recipe.netboot, publish: ctx.recipe.publish }
  },
  async run(ctx) {
    const views = await ctx.workspace.mountFinal(ctx.cleanup)
    for (const target of ctx.recipe.publish) {
      const site = await planSite(ctx.recipe, target, ctx.options.take)
      const result = await publishLocal(ctx, { nfs: target.nfs.path, tftp: target.tftp.path }, views, ctx.key)
      const where = join(recipeDir(target.nfs.path, ctx.recipe.name), 'builds', result.id)
      ctx.emit({ type: 'info', stage: 'publish', message: result.copied ? `published build ${result.id} (${formatBytes(result.bytes ?? 0)}) to ${where}` : `build ${result.id} is already live at ${where}: nothing to copy` })
      ctx.emit({ type: 'published', stage: 'publish', target: target.nfs.path, id: result.id, copied: result.copied, bytes: result.bytes ?? 0 })
      const recorded = await recordPublish(site, result.id, result.bytes)
      report(ctx, target, recorded)
    }
  },
}

function destinations(target: PublishTarget): Record<'nfs' | 'tftp' | 'config', Destination> {
  return { nfs: target.nfs, tftp: target.tftp, config: target.config }
}

function report(ctx: LayerContext, target: PublishTarget, recorded: Awaited<ReturnType<typeof recordPublish>>): void {
  const info = (message: string) => ctx.emit({ type: 'info', stage: 'publish', message })
  if (recorded.configChanged.length) info(`site ${target.config.path}: wrote ${recorded.configChanged.join(', ')}`)
  if (recorded.released.length) info(`nodes no longer served by ${ctx.recipe.name}: ${recorded.released.join(', ')}`)
  for (const build of recorded.removed) info(`removed old build ${build.id} (${build.why})`)
}
