/**
 * Shared accounts (`netboot.shared.accounts`): the fleet's passwd, group, shadow and gshadow live in
 * `<shared folder>/etc/`, edited in one place with shadow's usual tools, and every node sees an edit
 * at once, without a reboot.
 *
 * How: in the image, `/etc/passwd` (and the three others) become relative symlinks to
 * `/var/lib/pibake/accounts/<name>`, a real folder holding the image's own copies, so early boot
 * (systemd, udev, tmpfiles) resolves users and groups before the network is up. At boot, once the
 * shared folder is mounted, `pibake-accounts.service` seeds `<shared>/etc/` from those copies when a
 * file is missing (and adds accounts a newer image brought that the shared files lack), then
 * bind-mounts the *folder* `<shared>/etc` over `/var/lib/pibake/accounts`. A folder bind stays valid
 * when shadow's tools replace a file inside it by rename; a bind of the file itself would keep
 * showing the replaced (stale) file.
 *
 * Editing: `/etc` is read-only on a node, and shadow's tools lock and replace files beside the
 * database, so they are given the shared folder as their prefix: on a node
 * `useradd --prefix /shared …`, `usermod --prefix`, `userdel --prefix`, `groupadd --prefix`;
 * passwords with `chpasswd -c YESCRYPT --root /shared` (Debian bookworm's chpasswd has `--root`,
 * not `--prefix`). On the NFS server, the same with the shared folder's path there.
 */

import { PibakeError } from '../errors.ts'
import { oneField } from './fields.ts'

export const ACCOUNTS_FILES = ['passwd', 'group', 'shadow', 'gshadow'] as const
/** Where `/etc/<name>` points: the image's copies, then (bound over them) the shared folder's `etc/`. */
export const ACCOUNTS_DIR = '/var/lib/pibake/accounts'
export const ACCOUNTS_UNIT = 'pibake-accounts.service'
export const ACCOUNTS_SCRIPT_PATH = '/usr/lib/pibake/accounts'
/** Copied to `<shared>/etc/` once, so that `useradd --prefix` there behaves as in the image (private groups, uid ranges). */
export const ACCOUNTS_DEFAULTS = ['login.defs', 'default/useradd'] as const

/**
 * The boot script. Seeds and merges under a lock folder (mkdir is atomic on the NFS server), so two
 * nodes booting together never append the same account twice; every file is written beside its
 * target with the image copy's owner and mode, then renamed over it: no reader sees half a file.
 * Never `cp -a`: over NFSv3 (nfs-ganesha) its copy of permissions fails with "Input/output error"
 * (no NFSACL), which is what stopped the first version of this script before `shadow`.
 */
export function accountsScript(mount: string): string {
  if (oneField(mount, 'the shared mount point').includes("'")) throw new PibakeError(`the shared mount point ${JSON.stringify(mount)} holds a quote`, 'give a mount point without quotes')
  return `#!/bin/sh
# pibake: serve the fleet's accounts from the shared folder: one edit serves every node.
# /etc/{${ACCOUNTS_FILES.join(',')}} point into ${ACCOUNTS_DIR}, the image's copies; this binds
# ${mount}/etc over that folder. Edit with --prefix ${mount} (see the README).
set -eu
umask 077
image=${ACCOUNTS_DIR}
shared='${mount}/etc'
if mountpoint -q "$image"; then
  echo "pibake-accounts: $image is already served from $shared"
  exit 0
fi
# Nodes powered on together all find the folder missing: whoever loses the race finds it made.
# (A failed mkdir that left no folder is run again, for its error.)
mkdir -m 755 "$shared" 2>/dev/null || [ -d "$shared" ] || mkdir -m 755 "$shared"
lock=$shared/.pibake-accounts.lock
# A node's clock may be anything before time sync: a stale lock is told by waiting, not by its date.
tries=0
until mkdir "$lock" 2>/dev/null; do
  tries=$((tries + 1))
  if [ "$tries" -ge 240 ]; then
    echo "pibake-accounts: $lock held for 2 minutes (a node stopped while seeding?): taking it over" >&2
    break
  fi
  sleep 0.5
done
trap 'rmdir "$lock"' EXIT

# place REFERENCE TARGET < content: written beside TARGET with REFERENCE's owner and mode, then
# renamed. The temporary name is random: nodes booting alike have the same PIDs.
place() {
  tmp=$(mktemp "$2.pibake-XXXXXX")
  cat > "$tmp"
  chown "$(stat -c %u:%g "$1")" "$tmp"
  chmod "$(stat -c %a "$1")" "$tmp"
  mv -f "$tmp" "$2"
}

for name in ${ACCOUNTS_FILES.join(' ')}; do
  [ -f "$image/$name" ] || continue
  if [ ! -e "$shared/$name" ]; then
    place "$image/$name" "$shared/$name" < "$image/$name"
    echo "pibake-accounts: seeded $shared/$name from the image"
    continue
  fi
  # Accounts the image has and the shared file lacks (a package added to the recipe made them).
  added=$(awk -F: 'NR == FNR { have[$1] = 1; next } $1 != "" && !($1 in have) { printf "%s ", $1 }' "$shared/$name" "$image/$name")
  [ -n "$added" ] || continue
  awk -F: 'NR == FNR { have[$1] = 1; print; next } $1 != "" && !($1 in have)' "$shared/$name" "$image/$name" | place "$shared/$name" "$shared/$name"
  echo "pibake-accounts: added the image's $added to $shared/$name"
done
for path in ${ACCOUNTS_DEFAULTS.join(' ')}; do
  if [ -f "/etc/$path" ] && [ ! -e "$shared/$path" ]; then
    [ -d "$(dirname "$shared/$path")" ] || mkdir -m 755 "$(dirname "$shared/$path")"
    place "/etc/$path" "$shared/$path" < "/etc/$path"
  fi
done
mount --bind "$shared" "$image"
echo "pibake-accounts: accounts served from $shared"
`
}

export function accountsUnit(mount: string): string {
  // systemd reads `%` as the start of a specifier.
  const path = oneField(mount, 'the shared mount point').replaceAll('%', '%%')
  return `[Unit]
Description=Serve passwd, group and shadow from the shared folder (pibake)
RequiresMountsFor=${path}
Before=systemd-user-sessions.service ssh.service sshd.service
ConditionKernelCommandLine=nfsroot

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${ACCOUNTS_SCRIPT_PATH}

[Install]
WantedBy=multi-user.target
`
}
