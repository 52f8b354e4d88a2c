/** What the demo build needs from the host, checked before anything is touched. */
import { access } from 'node:fs/promises'
import { PreflightError } from '../errors.ts'
import { haveProgram } from '../system/exec.ts'
import type { DemoArch } from './spec.ts'

const PROGRAMS: Readonly<Record<string, string>> = {
  debootstrap: 'debootstrap',
  unshare: 'util-linux',
  chroot: 'coreutils',
  'apt-get': 'apt',
  'dpkg-deb': 'dpkg',
  sfdisk: 'fdisk',
  'mkfs.vfat': 'dosfstools',
  mcopy: 'mtools',
  'mkfs.ext4': 'e2fsprogs',
  xz: 'xz-utils',
  setcap: 'libcap2-bin',
  mknod: 'coreutils',
  mkfifo: 'coreutils',
  du: 'coreutils',
}

const BINFMT: Readonly<Record<DemoArch, string>> = { arm64: 'qemu-aarch64', armhf: 'qemu-arm' }

export async function checkDemoHost(arch: DemoArch): Promise<void> {
  const problems: string[] = []
  const packages = new Set<string>()
  if (process.getuid?.() !== 0) problems.push('not running as root (debootstrap, chroot and mknod need it)')
  for (const [program, pkg] of Object.entries(PROGRAMS)) {
    if (!(await haveProgram(program))) {
      problems.push(`${program} is not installed`)
      packages.add(pkg)
    }
  }
  const handler = `/proc/sys/fs/binfmt_misc/${BINFMT[arch]}`
  if (!(await access(handler).then(() => true, () => false))) {
    problems.push(`${handler} is missing: ${arch} programs cannot run on this host`)
    packages.add('qemu-user-static').add('binfmt-support')
  }
  if (problems.length === 0) return
  const install = packages.size ? `apt-get install ${[...packages].join(' ')}; ` : ''
  throw new PreflightError(`cannot build the ${arch} demo image:\n${problems.map((p) => `  - ${p}`).join('\n')}`, `${install}scripts/setup.sh sets up everything`)
}
