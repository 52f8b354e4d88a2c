/** The fleet as published: each node's identity, its TFTP directory and the build it boots. */
import { readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { macDir } from './netboot/layout.ts'
import type { Recipe } from './recipe/types.ts'

export interface NodeStatus {
  readonly hostname: string
  readonly mac: string
  readonly serial: string | undefined
  readonly ip: string | undefined
  readonly model: string
  /** The node's TFTP directory on the first publish target. */
  readonly tftpDir: string
  /** The build its TFTP directory points at, if published there. */
  readonly build: string | undefined
}

export async function nodeStatus(recipe: Recipe): Promise<NodeStatus[]> {
  const target = recipe.publish[0]
  const tftpRoot = target?.tftp.path ?? ''
  const local = target?.tftp.kind === 'local'
  return Promise.all(
    recipe.nodes.map(async (node) => {
      const tftpDir = join(tftpRoot, macDir(node.mac))
      const link = local ? await readlink(tftpDir).catch(() => undefined) : undefined
      const build = link?.split('/').at(-2)
      return { hostname: node.hostname, mac: node.mac, serial: node.serial, ip: node.ip, model: node.model, tftpDir, build }
    }),
  )
}
