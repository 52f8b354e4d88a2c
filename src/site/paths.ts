/**
 * Where a recipe's trees are on its target, in one place:
 *
 *   <nfs>/<recipe>/builds/<id>/            a root filesystem (and <id>.json, what it was built from)
 *   <nfs>/<recipe>/current -> builds/<id>  the live build
 *   <nfs>/<recipe>/nodes/<mac>/            a node's identity (SSH host keys, hostname)
 *   <tftp>/builds/<recipe>/<id>/<mac>/     a node's boot files for that build
 *   <tftp>/builds/<recipe>/<id>/<mac>@<server>/   … with several NFS servers, one per server
 *   <tftp>/<mac> -> builds/<recipe>/<id>/<mac>   what the node boots
 */
import { join } from 'node:path'
import { macDir } from '../netboot/layout.ts'

export interface TreePaths {
  readonly nfs: string
  readonly tftp: string
}

export function recipeRoot(paths: TreePaths, recipe: string): string {
  return join(paths.nfs, recipe)
}

export function buildRoot(paths: TreePaths, recipe: string, id: string): string {
  return join(paths.nfs, recipe, 'builds', id)
}

export function bootBuild(paths: TreePaths, recipe: string, id: string): string {
  return join(paths.tftp, 'builds', recipe, id)
}

export function nodeLink(paths: TreePaths, mac: string): string {
  return join(paths.tftp, macDir(mac))
}

/** The relative target of a node's link: its folder in a build of a recipe (for its NFS server, with several). */
export function nodeLinkTarget(recipe: string, id: string, mac: string, server?: string): string {
  return join('builds', recipe, id, nodeFolder(mac, server))
}

/**
 * A node's folder in a TFTP build: `<mac>`, or with several NFS servers one per server,
 * `<mac>@<server>`, each whose cmdline.txt names that server (`pibake drain` relinks between them).
 */
export function nodeFolder(mac: string, server?: string): string {
  return server === undefined ? macDir(mac) : `${macDir(mac)}@${server}`
}

/** The recipe and build a node's link points at, if it is one of pibake's. */
export function parseNodeLink(target: string | undefined): { recipe: string; id: string } | undefined {
  const match = target ? /^builds\/([^/]+)\/([^/]+)\/[^/]+$/.exec(target) : null
  return match ? { recipe: match[1]!, id: match[2]! } : undefined
}
