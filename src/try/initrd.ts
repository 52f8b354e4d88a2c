/**
 * The throw-away SSH key of `pibake try`: handed to the node for this one boot only, never written
 * into the build. The published root is read-only over NFS (and the same for every node), so the key
 * cannot go there; bookworm's systemd (252) has no `ssh.authorized_keys.root` credential either. What
 * try controls is the initramfs it gives QEMU: the published one, followed by a small uncompressed
 * cpio archive of ours (the kernel unpacks concatenated archives in turn, later files over earlier
 * ones). It adds an initramfs-tools `init-bottom` script that, once the root is mounted, puts a tmpfs
 * holding the key over the root's `/root/.ssh` (or over `/root` when the image has no `.ssh`), which
 * moves with the root into the running system. The published initramfs is copied, not changed.
 */
import { copyFile, open } from 'node:fs/promises'

/** Where the archive puts the key, and the scripts' names inside the initramfs. */
const KEY_FILE = 'pibake-try/authorized_keys'
const SCRIPT = 'scripts/init-bottom/pibake-try'
const HOOK = 'conf/conf.d/zz-pibake-try'

/**
 * initramfs-tools' `init` sources every `conf/conf.d/*` early, while the initramfs is still
 * writable, and later runs `scripts/init-bottom/ORDER` when the image's mkinitramfs wrote one (it
 * always does when the folder has scripts): this hook adds our script to that list. Without an ORDER
 * file, init finds the script by listing the folder, and calls it with `prereqs` first.
 */
const HOOK_TEXT = `# pibake try: run scripts/init-bottom/pibake-try with the others (this boot only).
if [ -f /scripts/init-bottom/ORDER ]; then
\techo '/scripts/init-bottom/pibake-try "$@"' >> /scripts/init-bottom/ORDER
\techo '[ -e /conf/param.conf ] && . /conf/param.conf' >> /scripts/init-bottom/ORDER
fi
`

/**
 * Only what klibc's and busybox's shells both have (no cp, no chmod): mount, mkdir, cat and
 * redirection. The tmpfs's mode makes the folder private, as sshd's StrictModes wants.
 */
const SCRIPT_TEXT = `#!/bin/sh
# pibake try: a throw-away SSH key for root, for this boot only; the root on the server is unchanged.
PREREQ=""
case "$1" in prereqs) echo "$PREREQ"; exit 0 ;; esac
[ -f /${KEY_FILE} ] || exit 0
if [ -d "\${rootmnt}/root/.ssh" ]; then
\tmount -t tmpfs -o mode=0700,size=1m pibake-try "\${rootmnt}/root/.ssh" || exit 0
else
\tmount -t tmpfs -o mode=0700,size=1m pibake-try "\${rootmnt}/root" || exit 0
\tmkdir -m 0700 "\${rootmnt}/root/.ssh"
fi
cat /${KEY_FILE} > "\${rootmnt}/root/.ssh/authorized_keys"
echo "pibake try: a throw-away SSH key for root (this boot only)" > /dev/kmsg 2>/dev/null || true
exit 0
`

/** Writes `initrd` followed by the key's archive to `to`, for QEMU's `-initrd`. */
export async function initrdWithKey(initrd: string, publicKey: string, to: string): Promise<void> {
  await copyFile(initrd, to)
  const archive = newcArchive([
    { name: 'pibake-try', mode: 0o40700 },
    { name: KEY_FILE, mode: 0o100600, data: Buffer.from(publicKey.endsWith('\n') ? publicKey : `${publicKey}\n`) },
    { name: 'conf', mode: 0o40755 },
    { name: 'conf/conf.d', mode: 0o40755 },
    { name: HOOK, mode: 0o100644, data: Buffer.from(HOOK_TEXT) },
    { name: 'scripts', mode: 0o40755 },
    { name: 'scripts/init-bottom', mode: 0o40755 },
    { name: SCRIPT, mode: 0o100755, data: Buffer.from(SCRIPT_TEXT) },
  ])
  const file = await open(to, 'a')
  try {
    // The next archive starts on a 4-byte boundary; the kernel skips the zeros between archives.
    const { size } = await file.stat()
    await file.write(Buffer.concat([Buffer.alloc((4 - (size % 4)) % 4), archive]))
  } finally {
    await file.close()
  }
}

export interface CpioEntry {
  readonly name: string
  /** File type and permission bits, as in `st_mode`. */
  readonly mode: number
  readonly data?: Buffer
}

/** A cpio archive in the "newc" format the kernel reads (owned by root, dated 0), with its trailer. */
export function newcArchive(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = []
  let inode = 1
  for (const entry of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = 'data' in entry && entry.data ? entry.data : Buffer.alloc(0)
    const name = Buffer.from(`${entry.name}\0`)
    const fields = [inode++, entry.mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0]
    const header = Buffer.from(`070701${fields.map((value) => value.toString(16).padStart(8, '0')).join('')}`)
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length))
  }
  return Buffer.concat(parts)
}

function pad(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4)
}

