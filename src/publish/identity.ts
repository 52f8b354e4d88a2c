/**
 * Per-node identity that must survive rebuilds: SSH host keys, generated once per node by pibake
 * and kept in `<out>/state/<recipe>/nodes/<hostname>/`, published for each node at
 * `<nfs>/<recipe>/nodes/<mac>/` (exported to that node alone), where the node's
 * `pibake-identity.service` fetches them at boot.
 */
import { copyFile, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { macDir } from '../netboot/layout.ts'
import type { Node } from '../recipe/types.ts'
import { exec } from '../system/exec.ts'
import type { Host } from './host.ts'

export const KEY_TYPES = ['ed25519', 'ecdsa', 'rsa'] as const

export function stateDir(out: string, recipe: string): string {
  return join(out, 'state', recipe)
}

/** The node's key folder in the state directory, with every key type generated if missing. */
export async function nodeKeys(out: string, recipe: string, node: Node, signal?: AbortSignal): Promise<string> {
  const dir = join(stateDir(out, recipe), 'nodes', node.hostname)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const present = new Set(await readdir(dir))
  for (const type of KEY_TYPES) {
    const name = `ssh_host_${type}_key`
    if (present.has(name) && present.has(`${name}.pub`)) continue
    const temp = join(dir, `.${name}.new`)
    await rm(temp, { force: true })
    await rm(`${temp}.pub`, { force: true })
    await exec(['ssh-keygen', '-q', '-t', type, '-N', '', '-C', `root@${node.hostname}`, '-f', temp], { signal, hint: 'ssh-keygen comes with openssh-client: apt-get install openssh-client' })
    await rename(`${temp}.pub`, join(dir, `${name}.pub`))
    await rename(temp, join(dir, name))
  }
  return dir
}

/**
 * Publishes each node's identity folder, `<nfs>/<recipe>/nodes/<mac>/`: its host keys and its
 * hostname, staged here in `staging` and sent in one transfer; private keys 0600 in 0700 folders.
 * Folders of nodes the recipe no longer has are removed.
 */
export async function publishIdentities(out: string, recipe: string, nodes: readonly Node[], host: Host, nfsRecipeDir: string, staging: string, signal?: AbortSignal): Promise<void> {
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true, mode: 0o755 })
  for (const node of nodes) {
    const keys = await nodeKeys(out, recipe, node, signal)
    const dest = join(staging, macDir(node.mac))
    await mkdir(dest, { mode: 0o700 })
    for (const name of (await readdir(keys)).filter((n) => !n.startsWith('.'))) await copyFile(join(keys, name), join(dest, name))
    await writeFile(join(dest, 'hostname'), `${node.hostname}\n`)
  }
  const root = join(nfsRecipeDir, 'nodes')
  await host.files.mkdir(root)
  await host.confine(nfsRecipeDir, root)
  await host.sync(staging, root, { args: ['--recursive', '--times', '--perms', '--delete', '--chown=0:0', '--chmod=D700,F600'], signal })
  await rm(staging, { recursive: true, force: true })
}
