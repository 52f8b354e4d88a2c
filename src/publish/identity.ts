/**
 * Per-node identity that must survive rebuilds: SSH host keys, generated once per node by pibake
 * and kept in `<out>/state/<recipe>/nodes/<hostname>/`, published for each node at
 * `<nfs>/<recipe>/nodes/<mac>/` (exported to that node alone), where the node's
 * `pibake-identity.service` fetches them at boot.
 */
import { availableParallelism } from 'node:os'
import { copyFile, link, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import PQueue from 'p-queue'
import { macDir } from '../netboot/layout.ts'
import type { HostKeyType, Node } from '../recipe/types.ts'
import type { Host } from './host.ts'
import { generateHostKey } from './hostkeys.ts'

export function stateDir(out: string, recipe: string): string {
  return join(out, 'state', recipe)
}

/** The file names of a host key of `type`: the private key, then the public one. */
export function keyFiles(type: HostKeyType): [string, string] {
  return [`ssh_host_${type}_key`, `ssh_host_${type}_key.pub`]
}

/** The node's key folder in the state directory, with every key of `types` generated if missing. */
export async function nodeKeys(out: string, recipe: string, node: Node, types: readonly HostKeyType[], signal?: AbortSignal): Promise<string> {
  const dir = join(stateDir(out, recipe), 'nodes', node.hostname)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const present = new Set(await readdir(dir))
  const missing = types.filter((type) => !keyFiles(type).every((name) => present.has(name)))
  await Promise.all(missing.map((type) => makeKey(dir, type, `root@${node.hostname}`, signal)))
  return dir
}

/** One key pair, written under temporary names and renamed: a key file that exists is whole. */
async function makeKey(dir: string, type: HostKeyType, comment: string, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  const key = await generateHostKey(type, comment)
  const [privateName, publicName] = keyFiles(type)
  const temp = join(dir, `.${privateName}.new`)
  await writeFile(`${temp}.pub`, key.publicKey, { mode: 0o644 })
  await writeFile(temp, key.privateKey, { mode: 0o600 })
  await rename(`${temp}.pub`, join(dir, publicName))
  await rename(temp, join(dir, privateName))
}

/**
 * Every node's keys, made where missing: nodes in parallel, as many at a time as there are cores
 * (the key pairs are made on libuv's thread pool, the files written meanwhile).
 */
export async function fleetKeys(out: string, recipe: string, nodes: readonly Node[], types: readonly HostKeyType[], signal?: AbortSignal): Promise<Map<Node, string>> {
  const queue = new PQueue({ concurrency: Math.max(4, availableParallelism() * 2) })
  const dirs = new Map<Node, string>()
  await queue.addAll(nodes.map((node) => async () => void dirs.set(node, await nodeKeys(out, recipe, node, types, signal))))
  return dirs
}

/**
 * Publishes each node's identity folder, `<nfs>/<recipe>/nodes/<mac>/`: its host keys of `types`
 * and its hostname, staged here in `staging` (keys hard-linked from the state folder) and sent in
 * one transfer; private keys 0600 in 0700 folders. Folders of nodes the recipe no longer has, and
 * keys of types it no longer asks for, are removed.
 */
export async function publishIdentities(out: string, recipe: string, nodes: readonly Node[], types: readonly HostKeyType[], host: Host, nfsRecipeDir: string, staging: string, signal?: AbortSignal): Promise<void> {
  const keys = await fleetKeys(out, recipe, nodes, types, signal)
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true, mode: 0o755 })
  const queue = new PQueue({ concurrency: 32 })
  await queue.addAll(
    nodes.map((node) => async () => {
      signal?.throwIfAborted()
      const dest = join(staging, macDir(node.mac))
      await mkdir(dest, { mode: 0o700 })
      for (const name of types.flatMap(keyFiles)) await linkOrCopy(join(keys.get(node)!, name), join(dest, name))
      await writeFile(join(dest, 'hostname'), `${node.hostname}\n`)
    }),
  )
  const root = join(nfsRecipeDir, 'nodes')
  await host.files.mkdir(root)
  await host.confine(nfsRecipeDir, root)
  await host.sync(staging, root, { args: ['--recursive', '--times', '--perms', '--delete', '--chown=0:0', '--chmod=D700,F600'], signal })
  await rm(staging, { recursive: true, force: true })
}

/** A hard link where the state and the staging folder share a filesystem (they are both in `out/`), else a copy. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  await link(from, to).catch((error: NodeJS.ErrnoException) => (error.code === 'EXDEV' ? copyFile(from, to) : Promise.reject(error)))
}
