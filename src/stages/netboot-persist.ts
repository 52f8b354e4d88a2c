/**
 * The netboot stage's part of `netboot.persist`: each persisted folder exists in the image (a mount
 * point on a read-only root cannot be made at boot, and publish seeds each node's copy from it),
 * and the node mounts its own copies over them at boot (`pibake-persist.service`).
 */
import { lstat, mkdir } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { StageError } from '../errors.ts'
import { PERSIST_SCRIPT_PATH, PERSIST_UNIT, PERSIST_UNIT_TEXT, persistScript } from '../netboot/persist.ts'
import type { LayerContext } from '../pipeline/stage.ts'
import { resolveInRoot } from '../system/inroot.ts'
import { enableUnit, exists, putFile } from '../system/rootfiles.ts'

/** What the stage's cache key must hold for the persisted folders: nothing when there are none. */
export function persistInputs(netboot: LayerContext['recipe']['netboot']): { persist?: string[] } {
  const folders = netboot.persist ?? []
  return folders.length ? { persist: [persistScript(netboot.nfs.server, netboot.nfs.path, folders, { tier: netboot.nfsTier !== undefined }), PERSIST_UNIT_TEXT] } : {}
}

export async function installPersist(ctx: LayerContext): Promise<void> {
  const { persist: folders = [], nfs } = ctx.recipe.netboot
  if (!folders.length) return
  if (!(await exists(ctx.root, '/sbin/mount.nfs')) && !(await exists(ctx.root, '/usr/sbin/mount.nfs'))) {
    throw new StageError('netboot', 'netboot.persist: the image has no NFS client (mount.nfs), which mounts the persisted folders at boot', "add it to the recipe: { packages: ['nfs-common'] }")
  }
  for (const folder of folders) await persistMountPoint(ctx.root, folder)
  await putFile(ctx.root, PERSIST_SCRIPT_PATH, persistScript(nfs.server, nfs.path, folders, { tier: ctx.recipe.netboot.nfsTier !== undefined }), 0o755)
  await putFile(ctx.root, `/etc/systemd/system/${PERSIST_UNIT}`, PERSIST_UNIT_TEXT)
  await enableUnit(ctx.root, PERSIST_UNIT, 'sysinit.target')
}

/**
 * The folder as a real folder at its own path: a symlink on the way would send the bind mount (and
 * the seed) somewhere else than the recipe says, so it is refused with the path it leads to.
 */
async function persistMountPoint(root: string, folder: string): Promise<void> {
  const resolved = await resolveInRoot(root, folder, { followLast: true })
  const own = join(root, folder)
  if (resolved !== own) {
    throw new StageError('netboot', `netboot.persist: ${folder} is /${relative(root, resolved)} in the image (a symlink leads there)`, `persist /${relative(root, resolved)} instead`)
  }
  const info = await lstat(own).catch(() => undefined)
  if (info && !info.isDirectory()) throw new StageError('netboot', `netboot.persist: ${folder} is a file in the image, not a folder`, 'persist the folder that holds it')
  if (!info) await mkdir(own, { recursive: true, mode: 0o755 })
}
