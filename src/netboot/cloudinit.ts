/**
 * cloud-init on a diskless node: disabled. Raspberry Pi OS (trixie on) runs cloud-init at first
 * boot from a NoCloud seed on the boot partition: it sets the hostname, creates the first user,
 * regenerates the SSH host keys and applies `network-config` through netplan. On a shared read-only
 * root every boot of every node would look like a first boot (its state in /var/lib/cloud cannot
 * be kept), and pibake already owns what it would do: the hostname comes from DHCP and
 * pibake-identity, each node's host keys are pibake's, users come from the recipe's `users` steps
 * (or the shared accounts), and the boot interface must not be reconfigured. Seeding cloud-init
 * with pibake's identity instead would duplicate that, run on every boot, and need writable state.
 *
 * `/etc/cloud/cloud-init.disabled` is what cloud-init's systemd generator reads: cloud-init.target
 * is then not pulled in and none of its units runs. The seed files are dropped from the boot files
 * as well: nothing reads them, and `user-data` may hold a password hash that TFTP serves to anyone.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { exists, hasUnit, putFile } from '../system/rootfiles.ts'

export const CLOUD_INIT_DISABLED = '/etc/cloud/cloud-init.disabled'

export const CLOUD_INIT_DISABLED_TEXT = `# pibake: a diskless node's identity (hostname, SSH host keys, users, network) is pibake's;
# cloud-init would redo its first boot on every boot of the shared read-only root.
`

/** NoCloud seed files Raspberry Pi OS has on its boot partition. */
export const SEED_FILES = ['user-data', 'meta-data', 'network-config'] as const

const CLOUD_INIT_UNITS = ['cloud-init-main.service', 'cloud-init.service', 'cloud-init-local.service']

/** Whether the image has cloud-init (its configuration folder or one of its units). */
export async function hasCloudInit(root: string): Promise<boolean> {
  if (await exists(root, '/etc/cloud/cloud.cfg')) return true
  for (const unit of CLOUD_INIT_UNITS) if (await hasUnit(root, unit)) return true
  return false
}

/** Disables cloud-init when the image has it, and removes its seed from the boot files; says whether it did. */
export async function disableCloudInit(root: string, boot: string): Promise<boolean> {
  if (!(await hasCloudInit(root))) return false
  await putFile(root, CLOUD_INIT_DISABLED, CLOUD_INIT_DISABLED_TEXT)
  for (const name of SEED_FILES) await rm(join(boot, name), { force: true })
  return true
}
