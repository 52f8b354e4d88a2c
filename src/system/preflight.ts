/** Host checks made before a build touches anything. */
import { haveProgram } from './exec.ts'
import { PreflightError } from '../errors.ts'

/** Debian packages that provide the programs pibake runs. */
const PACKAGE_OF: Record<string, string> = {
  sfdisk: 'fdisk',
  mcopy: 'mtools',
  losetup: 'mount',
  mount: 'mount',
  umount: 'mount',
  rsync: 'rsync',
  xz: 'xz-utils',
  unshare: 'util-linux',
  dnsmasq: 'dnsmasq',
  setpriv: 'util-linux',
  findmnt: 'util-linux',
  chroot: 'coreutils',
  cp: 'coreutils',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  'ssh-keyscan': 'openssh-client',
  ip: 'iproute2',
  'ganesha.nfsd': 'nfs-ganesha and nfs-ganesha-vfs',
  rpcbind: 'rpcbind',
  busybox: 'busybox-static',
  'qemu-system-aarch64': 'qemu-system-arm',
  'qemu-system-arm': 'qemu-system-arm',
  mksquashfs: 'squashfs-tools',
}

/** The Debian package that provides `program` (its own name when unknown). */
export function packageOf(program: string): string {
  return PACKAGE_OF[program] ?? program
}

export async function requirePrograms(programs: readonly string[]): Promise<void> {
  const missing: string[] = []
  for (const program of programs) if (!(await haveProgram(program))) missing.push(program)
  if (missing.length) {
    const packages = [...new Set(missing.map(packageOf))]
    throw new PreflightError(`missing programs: ${missing.join(', ')}`, `install them: apt-get install ${packages.join(' ')} (or run scripts/setup.sh)`)
  }
  if (process.getuid?.() !== 0) {
    throw new PreflightError('pibake build needs root (loop devices and mounts)', 'run it with sudo')
  }
}
