/**
 * What a node runs at boot to take its own identity from the NFS server: its host keys (and its
 * hostname when DHCP gave none). The files are installed in the shared root by the netboot stage.
 */

export const IDENTITY_SCRIPT_PATH = '/usr/lib/pibake/identity'
export const IDENTITY_UNIT = 'pibake-identity.service'
export const IDENTITY_KEYS_DIR = '/run/pibake/ssh'

import type { HostKeyType } from '../recipe/types.ts'

/**
 * Finds the build's NFS server and path in /proc/cmdline (`nfsroot=server:/…/<recipe>/builds/<id>`),
 * mounts `…/<recipe>/nodes/<mac>` for the MAC of each interface in turn, and copies what it finds
 * to /run. Without it (an old server, no nfs-common) sshd gets keys made for this boot only, of the
 * recipe's types (`types`) alone.
 */
export function identityScript(types: readonly HostKeyType[]): string {
  return `#!/bin/sh
# pibake: fetch this node's identity (SSH host keys, hostname) from the NFS server.
set -eu
keys=${IDENTITY_KEYS_DIR}
mnt=/run/pibake/identity
mkdir -p "$keys" "$mnt"
chmod 700 "$keys"
nfsroot=$(sed -n 's/.*nfsroot=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
server=\${nfsroot%%:*}
path=\${nfsroot#*:}
path=\${path%%,*}
base=\${path%/builds/*}
found=
for address in /sys/class/net/*/address; do
  mac=$(tr ':' '-' < "$address")
  case "$mac" in 00-00-00-00-00-00) continue ;; esac
  if mount -t nfs -o ro,nosuid,nodev,noexec,vers=3,nolock "$server:$base/nodes/$mac" "$mnt" 2>/dev/null; then
    cp "$mnt"/ssh_host_*_key "$mnt"/ssh_host_*_key.pub "$keys"/ 2>/dev/null || true
    [ -s "$mnt/hostname" ] && name=$(cat "$mnt/hostname") || name=
    umount "$mnt"
    found=$mac
    break
  fi
done
if [ -n "$found" ] && [ -n "$name" ]; then
  current=$(hostname)
  case "$current" in ''|'(none)'|localhost|raspberrypi) hostname "$name" ;; esac
fi
for type in ${types.join(' ')}; do
  if [ ! -s "$keys/ssh_host_\${type}_key" ]; then
    echo "pibake-identity: no $type host key for this node on the server; using one made for this boot" >&2
    ssh-keygen -q -t "$type" -N '' -f "$keys/ssh_host_\${type}_key"
  fi
done
chmod 600 "$keys"/ssh_host_*_key
`
}

export const IDENTITY_UNIT_TEXT = `[Unit]
Description=Fetch this node's identity (SSH host keys, hostname) from the NFS server (pibake)
DefaultDependencies=no
After=local-fs.target network.target
Before=ssh.service sshd.service systemd-user-sessions.service
ConditionKernelCommandLine=nfsroot

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${IDENTITY_SCRIPT_PATH}

[Install]
WantedBy=multi-user.target
`

/** sshd reads the node's own keys of the recipe's types, never the image's. */
export function sshdIdentityConf(types: readonly HostKeyType[]): string {
  return `# pibake: this node's own host keys, fetched at boot by ${IDENTITY_UNIT}.\n${types.map((type) => `HostKey ${IDENTITY_KEYS_DIR}/ssh_host_${type}_key\n`).join('')}`
}
