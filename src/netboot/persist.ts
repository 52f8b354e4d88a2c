/**
 * A node's persisted folders (`netboot.persist`): where they live on the NFS server, and what the
 * node runs at boot to mount them over its root. They belong to the node (by MAC), not to a recipe
 * or a build: `<nfs>/_persist/<mac>/<folder>` (`_persist` is no recipe's name: recipe names start
 * with a letter or digit), exported read-write to the node's address alone.
 */
import { join } from 'node:path'
import { macDir } from './layout.ts'

/** The folder beside the recipes' folders on the NFS server that holds every node's persisted folders. */
export const PERSIST_DIR = '_persist'

export const PERSIST_SCRIPT_PATH = '/usr/lib/pibake/persist'
export const PERSIST_UNIT = 'pibake-persist.service'
/** Where the node mounts its export; each folder is bound from here over the root. */
export const PERSIST_MOUNT = '/run/pibake/persist'

/** `<nfs>/_persist`: every node's persisted folders (`nfs` as the NFS server sees it, or as publish writes it). */
export function persistRoot(nfs: string): string {
  return join(nfs, PERSIST_DIR)
}

/** `<nfs>/_persist/<mac>`: one node's persisted folders, each at its path on the node. */
export function persistNodeDir(nfs: string, mac: string): string {
  return join(persistRoot(nfs), macDir(mac))
}

/** Whether a name in `<nfs>/_persist/` is a node's folder as pibake names it (`dc-a6-32-01-02-03`). */
export function isPersistNodeName(name: string): boolean {
  return /^[0-9a-f]{2}(-[0-9a-f]{2}){5}$/.test(name)
}

/**
 * With several NFS servers (`netboot.nfs` a list) the node's own server and its path, from the
 * kernel command line its TFTP folder gives it (`pibake.nfs=<server>:<path>`, src/publish/tier.ts).
 */
const TIER_SERVER = `for arg in $(cat /proc/cmdline); do
  case "$arg" in pibake.nfs=*:/*) own=\${arg#*=}; server=\${own%%:*}; base=\${own#*:}/${PERSIST_DIR} ;; esac
done
`

/**
 * Mounts `<server>:<nfs>/_persist/<mac>` (for the MAC of each interface in turn, until the server
 * lets one in) on PERSIST_MOUNT, then binds each folder over its path on the root. Fails, so the
 * unit shows as failed, when no export or a folder is missing: the node then runs on the image's
 * copy, read-only on an NFS root, and nothing it writes there is kept.
 */
export function persistScript(server: string, nfs: string, folders: readonly string[], options: { readonly tier?: boolean } = {}): string {
  return `#!/bin/sh
# pibake: mount this node's persisted folders (netboot.persist) from the NFS server over the root.
set -u
server=${quote(server)}
base=${quote(persistRoot(nfs))}
${options.tier ? TIER_SERVER : ''}mnt=${PERSIST_MOUNT}
mkdir -p "$mnt"
found=
errors=
for address in /sys/class/net/*/address; do
  mac=$(tr ':' '-' < "$address")
  case "$mac" in 00-00-00-00-00-00) continue ;; esac
  if error=$(mount -t nfs -o rw,vers=3,nolock "$server:$base/$mac" "$mnt" 2>&1); then
    found=$mac
    break
  fi
  errors="$errors
  $server:$base/$mac: $error"
done
if [ -z "$found" ]; then
  echo "pibake-persist: the NFS server lets this node mount none of its persisted folders:$errors" >&2
  exit 1
fi
status=0
for dir in ${folders.map(quote).join(' ')}; do
  if [ ! -d "$mnt$dir" ]; then
    echo "pibake-persist: $dir is not in $server:$base/$found (publishing seeds it)" >&2
    status=1
  elif ! mount --bind "$mnt$dir" "$dir"; then
    status=1
  fi
done
exit $status
`
}

/**
 * Early, before sysinit.target: after the local mounts (a folder may lie on a tmpfs of the fstab)
 * and before tmpfiles and every ordinary service, which may write to the folders. It needs only the
 * network the initramfs brought up for the root, as the identity unit does.
 */
export const PERSIST_UNIT_TEXT = `[Unit]
Description=Mount this node's persisted folders from the NFS server (pibake)
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target systemd-tmpfiles-setup.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${PERSIST_SCRIPT_PATH}

[Install]
WantedBy=sysinit.target
`

/** A shell word: single-quoted, a quote inside closed and escaped. */
function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`
}
