/**
 * Seeding each node's persisted folders (`netboot.persist`) on the NFS host: a folder a node does
 * not have yet there is made a copy of the build's content of that path (owners, modes, links,
 * ACLs and xattrs kept, as the root's copy keeps them), under a temporary name renamed into place.
 * A folder that exists is the node's and is never touched again, whatever the build holds: not by
 * a rebuild, not by a move to another recipe. The first node's copy goes over the wire; the other
 * nodes' are copied from it on the host (`rsync --copy-dest`), so a fleet sends the content once.
 */
import { basename, dirname, join } from 'node:path'
import { persistNodeDir, persistRoot } from '../netboot/persist.ts'
import type { Node } from '../recipe/types.ts'
import { ROOTFS_ARGS } from '../system/rsync.ts'
import type { Host } from './host.ts'

export interface PersistSeed {
  /** The NFS host and the folder publish writes the recipes' folders to. */
  readonly host: Host
  readonly nfs: string
  /** The build's root tree, here. */
  readonly root: string
  readonly nodes: readonly Pick<Node, 'hostname' | 'mac'>[]
  readonly folders: readonly string[]
  readonly signal?: AbortSignal | undefined
}

/** Seeds every node's missing folders; returns what was seeded (`host:/var/lib/rancher`), in order. */
export async function seedPersist({ host, nfs, root, nodes, folders, signal }: PersistSeed): Promise<string[]> {
  if (!folders.length) return []
  const top = persistRoot(nfs)
  // Only the nodes (as root, over NFS) and the server's root read what the nodes keep.
  await host.files.mkdir(top, 0o700)
  await host.confine(nfs, top)
  const seeded: string[] = []
  for (const folder of folders) {
    let first: string | undefined
    for (const node of nodes) {
      signal?.throwIfAborted()
      const dest = join(persistNodeDir(nfs, node.mac), folder)
      if (await host.files.exists(dest)) continue
      await seedOne(host, nfs, join(root, folder), dest, first, signal)
      first ??= dest
      seeded.push(`${node.hostname}:${folder}`)
    }
  }
  return seeded
}

/** One folder, copied to a temporary name beside `dest` and renamed: a folder at `dest` is always whole. */
async function seedOne(host: Host, nfs: string, source: string, dest: string, reference: string | undefined, signal?: AbortSignal): Promise<void> {
  const parent = dirname(dest)
  await host.files.mkdir(parent, 0o755)
  await host.confine(nfs, parent)
  const temp = join(parent, `.${basename(dest)}.pibake-seed`)
  // A seed cut off before its rename is not the node's yet: it starts again.
  await host.files.remove(temp)
  await host.sync(source, temp, { args: [...ROOTFS_ARGS, ...(reference ? [`--copy-dest=${reference}`] : [])], signal })
  await host.files.rename(temp, dest)
}
