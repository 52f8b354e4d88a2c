/**
 * publish: copies the finished root and boot trees to every target and writes the server
 * configuration (dnsmasq.conf, NFS exports) for the published layout. Never cached: it compares the
 * live build with what it would publish and copies only when they differ.
 */
import { join } from 'node:path'
import { PreflightError } from '../errors.ts'
import { renderDnsmasqConf } from '../netboot/dnsmasq.ts'
import { renderExports } from '../netboot/exports.ts'
import { macDir } from '../netboot/layout.ts'
import type { LayerContext, Stage } from '../pipeline/stage.ts'
import { recipeDir } from '../publish/builds.ts'
import { writeFileAtomic } from '../publish/fsops.ts'
import { publishLocal } from '../publish/local.ts'
import type { Destination } from '../recipe/types.ts'
import { requirePrograms } from '../system/preflight.ts'

export const publish: Stage = {
  name: 'publish',
  kind: 'final',
  version: 1,
  async verify(ctx) {
    await requirePrograms(['rsync', 'cp'])
    for (const [index, target] of ctx.recipe.publish.entries()) {
      for (const [field, destination] of Object.entries(target) as [string, Destination][]) {
        if (destination.kind !== 'local') {
          throw new PreflightError(`publish[${index}].${field}: publishing over SSH is not supported yet`, 'publish to a local directory (an NFS export mounted here works too)')
        }
      }
    }
  },
  async inputs(ctx) {
    return { nodes: ctx.recipe.nodes, netboot: ctx.recipe.netboot, publish: ctx.recipe.publish }
  },
  async run(ctx) {
    const views = await ctx.workspace.mountFinal(ctx.cleanup)
    for (const target of ctx.recipe.publish) {
      if (target.nfs.kind !== 'local' || target.tftp.kind !== 'local' || target.config.kind !== 'local') continue
      const result = await publishLocal(ctx, { nfs: target.nfs.path, tftp: target.tftp.path }, views, ctx.key)
      await writeServerConfig(ctx, target.config.path, target.tftp.path)
      const where = join(recipeDir(target.nfs.path, ctx.recipe.name), 'builds', result.id)
      ctx.emit({ type: 'info', stage: 'publish', message: result.copied ? `published build ${result.id} to ${where}` : `build ${result.id} is already live at ${where}: nothing to copy` })
    }
  },
}

/**
 * dnsmasq.conf, and the exports as the NFS server sees them: the builds read-only to the subnet,
 * each node's identity folder read-only to that node alone.
 */
async function writeServerConfig(ctx: LayerContext, dir: string, tftpRoot: string): Promise<void> {
  const served = join(ctx.recipe.netboot.nfs.path, ctx.recipe.name)
  const nodes = ctx.recipe.nodes.map((node) => ({ path: join(served, 'nodes', macDir(node.mac)), client: node.ip }))
  await writeFileAtomic(join(dir, 'dnsmasq.conf'), renderDnsmasqConf(ctx.recipe, { tftpRoot }))
  const sharedPath = ctx.recipe.netboot.shared?.path
  await writeFileAtomic(join(dir, 'exports'), renderExports(ctx.recipe, { rootPath: join(served, 'builds'), nodes, ...(sharedPath ? { sharedPath } : {}) }))
}
