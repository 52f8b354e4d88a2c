/**
 * What the demo image is made of. Everything here is an input of the build: it goes into the
 * manifest, so changing any of it rebuilds the image (and nothing else does).
 */

import { DEFAULT_RELEASE, RELEASE_PACKAGES, type DemoRelease } from './release.ts'

export type DemoArch = 'arm64' | 'armhf'

/** The suite whose apt source on this host names the mirror (every release is on the same mirror). */
export const DEMO_SUITE = 'bookworm'

/** MBR disk identifier: the partitions are `PARTUUID=7069626b-01` and `-02` ("pibk"). */
export const DEMO_LABEL_ID = '7069626b'

export function demoPartUuid(partition: 1 | 2): string {
  return `${DEMO_LABEL_ID}-0${partition}`
}

/** First sector of the boot partition and its size, as Raspberry Pi OS lays them out. */
export const BOOT_START_SECTOR = 8192
export const BOOT_SIZE_MIB = 512

/** The kernel of each architecture, installed with initramfs-tools and busybox in the same transaction. */
export const KERNEL_PACKAGES: Readonly<Record<DemoArch, readonly string[]>> = {
  arm64: ['linux-image-arm64', 'initramfs-tools', 'busybox'],
  armhf: ['linux-image-armmp', 'initramfs-tools', 'busybox'],
}

/** Modules the initramfs needs to mount an NFS root under `qemu-system-aarch64 -M virt`. */
export const REQUIRED_MODULES: readonly string[] = ['virtio_pci', 'virtio_net', 'virtio_blk', 'af_packet', 'nfs', 'nfsv3', 'ext4']

/**
 * Raspberry Pi Ethernet drivers present in each Debian kernel package (bookworm 6.1, trixie 6.12). The Pi 4's
 * bcmgenet is the module `genet`; armmp has neither genet nor macb. A listed module that the
 * installed kernel lacks is reported, not fatal.
 */
export const PI_ETHERNET_MODULES: Readonly<Record<DemoArch, readonly string[]>> = {
  arm64: ['genet', 'smsc95xx', 'lan78xx', 'macb'],
  armhf: ['smsc95xx', 'lan78xx'],
}

export function initramfsModules(arch: DemoArch): readonly string[] {
  return [...REQUIRED_MODULES, ...PI_ETHERNET_MODULES[arch]]
}

export function demoPackages(arch: DemoArch, release: DemoRelease = DEFAULT_RELEASE): readonly string[] {
  return [...RELEASE_PACKAGES[release], ...KERNEL_PACKAGES[arch]]
}

/** Debian's Raspberry Pi firmware package (component non-free-firmware). */
export const FIRMWARE_PACKAGE = 'raspi-firmware'
export const FIRMWARE_COMPONENT = 'non-free-firmware'

/** The default user, as Raspberry Pi OS images had it. Password "raspberry", stored only as this hash. */
export const DEMO_USER = {
  name: 'pi',
  uid: 1000,
  passwordHash: '$6$pibakedemo$dJbtaAyzhO8VYnp9MB4Ups8MXrKS81OG4gGZSrKSFwpYyQBVmjFQ.tU6zD0Rttq4voNCdlsYbakmtoF4jd3Zk.',
  groups: ['adm', 'dialout', 'cdrom', 'sudo', 'audio', 'video', 'plugdev', 'games', 'users', 'input', 'render', 'netdev', 'gpio', 'i2c', 'spi'],
} as const

export const DEMO_HOSTNAME = 'raspberrypi'

/** File names of the kernel and initramfs on the boot partition, per architecture. */
export const BOOT_KERNEL_NAMES: Readonly<Record<DemoArch, readonly { kernel: string; initramfs: string }[]>> = {
  arm64: [
    { kernel: 'kernel8.img', initramfs: 'initramfs8' },
    { kernel: 'kernel_2712.img', initramfs: 'initramfs_2712' },
  ],
  armhf: [
    { kernel: 'kernel7.img', initramfs: 'initramfs7' },
    { kernel: 'kernel7l.img', initramfs: 'initramfs7l' },
  ],
}
