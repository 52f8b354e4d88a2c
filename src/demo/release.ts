/**
 * The Raspberry Pi OS releases the demo image can imitate. Bookworm (Debian 12, dhcpcd-era first
 * boot, a swap file) is the default; trixie (Debian 13) is shaped like today's Raspberry Pi OS:
 * NetworkManager driven by netplan, cloud-init with a NoCloud seed on the boot partition, zram swap,
 * deb822 apt sources. What differs between them lives here; everything else is shared.
 */
import { PibakeError } from '../errors.ts'

export type DemoRelease = 'bookworm' | 'trixie'

export const DEMO_RELEASES: readonly DemoRelease[] = ['bookworm', 'trixie']

export const DEFAULT_RELEASE: DemoRelease = 'bookworm'

/**
 * Packages of each release besides the kernel (debootstrap `--include`, one dpkg transaction).
 * Bookworm's list is part of the bookworm images' manifest: changing it rebuilds them. Trixie has
 * what Raspberry Pi OS trixie boots with instead of ifupdown and dphys-swapfile (dbus is named
 * because debootstrap does not resolve NetworkManager's virtual dependency on a system bus).
 */
export const RELEASE_PACKAGES: Readonly<Record<DemoRelease, readonly string[]>> = {
  bookworm: [
    'systemd-sysv', 'udev', 'kmod', 'iproute2', 'netbase', 'ifupdown', 'openssh-server', 'sudo', 'procps',
    'nfs-common', 'dphys-swapfile', 'iputils-ping', 'fdisk',
  ],
  trixie: [
    'systemd-sysv', 'udev', 'kmod', 'iproute2', 'netbase', 'openssh-server', 'sudo', 'procps',
    'nfs-common', 'iputils-ping', 'fdisk', 'dbus', 'network-manager', 'netplan.io', 'cloud-init', 'systemd-zram-generator',
  ],
}

export function checkRelease(release: string): DemoRelease {
  if ((DEMO_RELEASES as readonly string[]).includes(release)) return release as DemoRelease
  throw new PibakeError(`unknown demo image release "${release}"`, `use ${DEMO_RELEASES.join(' or ')}`)
}

/**
 * The stem of the image's file names: bookworm keeps its historical `raspios-demo-<arch>` (recipes
 * and tests name it), other releases say theirs, so both live side by side in out/demo.
 */
export function demoStem(release: DemoRelease, arch: string): string {
  return release === 'bookworm' ? `raspios-demo-${arch}` : `raspios-demo-${release}-${arch}`
}
