/**
 * Per-node identity that must survive rebuilds: SSH host keys, generated once per node by pibake
 * and kept in `<out>/state/<recipe>/nodes/<hostname>/`, published for each node at
 * `<nfs>/<recipe>/nodes/<mac>/` (exported to that node alone), where the node's
 * `pibake-identity.service` fetches them at boot.
 */
import { availableParallelism } from 'node:os'
import { copyFile, link, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
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
 * (the key pairs are made on libuv's thread pool, the files written meanwhile). Returns each node's
 * key folder, and the nodes that got a new key.
 */
export async function fleetKeys(out: string, recipe: string, nodes: readonly Node[], types: readonly HostKeyType[], signal?: AbortSignal): Promise<{ dirs: Map<Node, string>; made: Set<Node> }> {
  const queue = new PQueue({ concurrency: Math.max(4, availableParallelism() * 2) })
  const dirs = new Map<Node, string>()
  const made = new Set<Node>()
  await queue.addAll(
    nodes.map((node) => async () => {
      const before = await readdir(join(stateDir(out, recipe), 'nodes', node.hostname)).catch(() => [] as string[])
      dirs.set(node, await nodeKeys(out, recipe, node, types, signal))
      if (!types.every((type) => keyFiles(type).every((name) => before.includes(name)))) made.add(node)
    }),
  )
  return { dirs, made }
}

/**
 * Publishes each node's identity folder, `<nfs>/<recipe>/nodes/<mac>/`: its host keys of `types`
 * and its hostname, private keys 0600 in 0700 folders. They are staged here in `staging` (keys
 * hard-linked from the state folder), kept between builds and brought up to date node by node, and
 * sent in one transfer; when no node's folder changed since the last transfer to this target, and
 * the target still has every node's folder, nothing is sent. Folders of nodes the recipe no longer
 * has, and keys of types it no longer asks for, are removed.
 */
export async function publishIdentities(out: string, recipe: string, nodes: readonly Node[], types: readonly HostKeyType[], host: Host, nfsRecipeDir: string, staging: string, signal?: AbortSignal): Promise<void> {
  const { dirs, made } = await fleetKeys(out, recipe, nodes, types, signal)
  await mkdir(staging, { recursive: true, mode: 0o755 })
  const wanted = new Set(nodes.map((node) => macDir(node.mac)))
  let changed = false
  for (const name of await readdir(staging)) {
    if (wanted.has(name)) continue
    await rm(join(staging, name), { recursive: true, force: true })
    changed = true
  }
  const names = [...types.flatMap(keyFiles), 'hostname'].sort()
  const queue = new PQueue({ concurrency: 32 })
  await queue.addAll(
    nodes.map((node) => async () => {
      signal?.throwIfAborted()
      const dest = join(staging, macDir(node.mac))
      if (!made.has(node) && (await staged(dest, names, node))) return
      changed = true
      await rm(dest, { recursive: true, force: true })
      await mkdir(dest, { mode: 0o700 })
      for (const name of types.flatMap(keyFiles)) await linkOrCopy(join(dirs.get(node)!, name), join(dest, name))
      await writeFile(join(dest, 'hostname'), `${node.hostname}\n`)
    }),
  )
  const root = join(nfsRecipeDir, 'nodes')
  await host.files.mkdir(root)
  await host.confine(nfsRecipeDir, root)
  const synced = `${staging}.synced`
  const there = new Set(await host.files.list(root))
  if (!changed && (await readFile(synced, 'utf8').catch(() => '')) === root && there.size === wanted.size && [...wanted].every((name) => there.has(name))) return
  await rm(synced, { force: true })
  await host.sync(staging, root, { args: ['--recursive', '--times', '--perms', '--delete', '--chown=0:0', '--chmod=D700,F600'], signal })
  await writeFile(synced, root)
}

/** Whether the node's staged folder holds exactly `names`, and its hostname. */
async function staged(dest: string, names: readonly string[], node: Node): Promise<boolean> {
  const have = await readdir(dest).catch(() => undefined)
  if (!have || have.sort().join('/') !== names.join('/')) return false
  return (await readFile(join(dest, 'hostname'), 'utf8')) === `${node.hostname}\n`
}

/** A hard link where the state and the staging folder share a filesystem (they are both in `out/`), else a copy. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  await link(from, to).catch((error: NodeJS.ErrnoException) => (error.code === 'EXDEV' ? copyFile(from, to) : Promise.reject(error)))
}
