/**
 * The kernel command line of a diskless node. Raspberry Pi OS ships one for an SD card
 * (`root=PARTUUID=… rootfstype=ext4 fsck.repair=yes init=…firstboot`); a node booting from NFS
 * needs `root=/dev/nfs nfsroot=<server>:<path>,vers=3 ip=dhcp rootwait ro` instead. Bookworm's
 * initramfs mounts the root with klibc nfsmount: NFS v2/v3 only, and no `proto=` option.
 */
import { PibakeError } from '../errors.ts'
import { oneField } from './fields.ts'

/** Arguments that only make sense for a root on a local disk, or for the first boot from one. */
const LOCAL_ROOT_ARGS = ['root', 'rootfstype', 'fsck.repair', 'init', 'nfsroot', 'ip', 'resize', 'rootwait', 'ro', 'rw', 'boot']

export function parseCmdline(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean)
}

function argName(arg: string): string {
  return arg.split('=')[0] ?? arg
}

/** The image's command line without its local-root arguments, plus what every NFS-root node needs. */
export function netbootCmdline(imageCmdline: string): string[] {
  const kept = parseCmdline(imageCmdline).filter((arg) => !LOCAL_ROOT_ARGS.includes(argName(arg)))
  return [...kept, 'root=/dev/nfs', 'ip=dhcp', 'rootwait', 'ro']
}

/** Arguments that may be given several times; a node's own are added to the image's. */
const REPEATABLE_ARGS = ['console']

/**
 * One node's command line for one published build: its root's NFS path, then its own extra
 * arguments, which replace the image's arguments of the same name (`quiet=0` replaces `quiet`).
 */
export function nodeCmdline(common: readonly string[], nfsroot: { server: string; path: string }, extra: readonly string[]): string {
  oneField(nfsroot.server, 'the NFS server')
  if (oneField(nfsroot.path, 'the NFS root path').includes(',')) throw new PibakeError(`the NFS root path ${JSON.stringify(nfsroot.path)} holds a comma: nfsroot= would read what follows as mount options`)
  for (const arg of [...common, ...extra]) oneField(arg, 'the kernel argument')
  const overridden = new Set(extra.map(argName).filter((name) => !REPEATABLE_ARGS.includes(name)))
  const args = [...common.filter((arg) => !overridden.has(argName(arg))), `nfsroot=${nfsroot.server}:${nfsroot.path},vers=3`, ...extra]
  return `${args.join(' ')}\n`
}
