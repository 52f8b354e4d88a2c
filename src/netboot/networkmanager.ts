/**
 * NetworkManager on a node whose root is mounted over NFS. The kernel configures the boot interface
 * (`ip=dhcp`) before NetworkManager starts; if NetworkManager then activates a connection on it (its
 * automatic "Wired connection", or one netplan generated from `/etc/netplan` or cloud-init's
 * `network-config`), it takes the interface down or re-addresses it and the root goes away under
 * the running system. So every node's boot interface is unmanaged: matched by the node's MAC
 * (whatever name udev gives it: eth0, end0, enp0s1…) and by the names the kernel uses for it.
 * An unmanaged device is never activated, whatever connection profile matches it, so nothing
 * netplan generates can touch it either; other devices (Wi-Fi) stay NetworkManager's.
 *
 * The hostname is pibake's too (DHCP's, or pibake-identity's from the NFS server): with the image's
 * /etc/hostname empty, NetworkManager would otherwise set its fallback `localhost.localdomain`
 * before pibake-identity runs (seen on the trixie boot test), so `hostname-mode=none`.
 */
import type { Node } from '../recipe/types.ts'
import { exists, putFile } from '../system/rootfiles.ts'

export const NETWORKMANAGER_CONF_PATH = '/etc/NetworkManager/conf.d/pibake-nfsroot.conf'

/** Interface names a Pi's wired boot interface has under the Raspberry Pi and the Debian kernels. */
const BOOT_INTERFACE_NAMES = ['eth0', 'end0'] as const

/** The drop-in: `+=` adds to whatever unmanaged-devices the image or the recipe already lists. */
export function networkManagerConf(nodes: readonly Pick<Node, 'mac'>[]): string {
  const specs = [...new Set(nodes.map((n) => `mac:${n.mac.toLowerCase()}`)), ...BOOT_INTERFACE_NAMES.map((name) => `interface-name:${name}`)]
  return `# pibake: the root filesystem is mounted over the wired interface the kernel configured at
# boot (ip=dhcp). NetworkManager must never take it down or re-address it, whatever netplan or a
# connection profile says: each node's boot interface (by MAC, whatever its name) is unmanaged.
# The hostname comes from DHCP or pibake-identity, never from NetworkManager.
[main]
hostname-mode=none

[keyfile]
unmanaged-devices+=${specs.join(';')}
`
}

/** Writes the drop-in when the image has NetworkManager; says whether it did. */
export async function unmanageBootInterface(root: string, nodes: readonly Pick<Node, 'mac'>[]): Promise<boolean> {
  if (!(await exists(root, '/etc/NetworkManager')) && !(await exists(root, '/usr/sbin/NetworkManager'))) return false
  await putFile(root, NETWORKMANAGER_CONF_PATH, networkManagerConf(nodes))
  return true
}
