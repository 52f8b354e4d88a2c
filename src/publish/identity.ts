/**
 * Per-node identity that must survive rebuilds: SSH host keys, generated once per node by pibake
 * and kept in `<out>/state/<recipe>/nodes/<hostname>/`, published for each node at
 * `<nfs>/<recipe>/nodes/<mac>/` (exported to that node alone), where the node's
 * `pibake-identity.service` fetches them at boot.
 */
import { chmod, mkdir, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { macDir } from '../netboot/layout.ts'
import type { Node } from '../recipe/types.ts'
import { exec } from '../system/exec.ts'
import { rsync } from '../system/rsync.ts'
import { writeFileAtomic } from './fsops.ts'

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

/** Publishes each node's identity folder: its host keys and its hostname. */
export async function publishIdentities(out: string, recipe: string, nodes: readonly Node[], nfsRecipeDir: string, signal?: AbortSignal): Promise<void> {
  const root = join(nfsRecipeDir, 'nodes')
  await mkdir(root, { recursive: true, mode: 0o755 })
  for (const node of nodes) {
    const keys = await nodeKeys(out, recipe, node, signal)
    const dest = join(root, macDir(node.mac))
    await mkdir(dest, { recursive: true })
    await chmod(dest, 0o700)
    await rsync(keys, dest, { args: ['--recursive', '--times', '--perms', '--chown=0:0', '--chmod=F600', '--exclude=.*'], signal })
    await writeFileAtomic(join(dest, 'hostname'), `${node.hostname}\n`, 0o644)
  }
}
