/**
 * The text files that make the trixie demo image look like Raspberry Pi OS trixie (Debian 13):
 * netplan handing every device to NetworkManager, cloud-init reading a NoCloud seed from the boot
 * partition (the first user comes from `user-data`), zram swap, deb822 apt sources. Like
 * content.ts, every text here is an input of the image's manifest.
 */
import { DEMO_HOSTNAME, DEMO_USER, type DemoArch } from './spec.ts'

/** What Raspberry Pi OS trixie ships as `/lib/netplan/00-network-manager-all.yaml` (usr-merged). */
export const NETPLAN_PATH = '/usr/lib/netplan/00-network-manager-all.yaml'
export const NETPLAN_NM_ALL = `# Let NetworkManager manage all devices on this system
network:
  version: 2
  renderer: NetworkManager
`

/** cloud-init's settings, in Raspberry Pi OS's shape: NoCloud from the boot partition, no default user. */
export const CLOUD_CFG_PATH = '/etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg'
export const CLOUD_CFG = `# Raspberry Pi OS: the seed (user-data, meta-data, network-config) is on the boot partition,
# and the first user is the one user-data names (there is no built-in default user).
datasource_list: [ NoCloud, None ]
datasource:
  NoCloud:
    seedfrom: file:///boot/firmware/
system_info:
  default_user: null
users: []
disable_root: true
`

/** The NoCloud seed on the boot partition, as Raspberry Pi Imager writes it. */
export function userData(): string {
  return `#cloud-config
hostname: ${DEMO_HOSTNAME}
manage_etc_hosts: true
users:
  - name: ${DEMO_USER.name}
    groups: [${DEMO_USER.groups.join(', ')}]
    shell: /bin/bash
    lock_passwd: false
    passwd: ${DEMO_USER.passwordHash}
    sudo: ALL=(ALL) NOPASSWD:ALL
ssh_pwauth: true
`
}

export const META_DATA = `instance-id: rpios-image\n`

export const NETWORK_CONFIG = `network:
  version: 2
  renderer: NetworkManager
  ethernets:
    eth0:
      dhcp4: true
      optional: true
`

/** Seed files on the boot partition, by name. */
export function seedFiles(): Readonly<Record<string, string>> {
  return { 'user-data': userData(), 'meta-data': META_DATA, 'network-config': NETWORK_CONFIG }
}

/** zram swap (systemd-zram-generator): half the RAM, at most 2 GiB; no swap file. */
export const ZRAM_PATH = '/etc/systemd/zram-generator.conf'
export const ZRAM_CONF = `[zram0]
zram-size = min(ram / 2, 2048)
`

/**
 * apt sources in deb822 form, as trixie writes them; they replace debootstrap's one-line
 * sources.list. The security archive is listed when the mirror is Debian's own layout.
 */
export const APT_SOURCES_PATH = '/etc/apt/sources.list.d/debian.sources'
export function debianSources(mirror: string, keyring: string): string {
  const stanza = (uri: string, suites: string) =>
    `Types: deb\nURIs: ${uri}\nSuites: ${suites}\nComponents: main contrib non-free non-free-firmware\nSigned-By: ${keyring}\n`
  const main = stanza(mirror, 'trixie trixie-updates')
  return /\/debian$/.test(mirror) ? `${main}\n${stanza(`${mirror}-security`, 'trixie-security')}` : main
}

export function issueTxtTrixie(arch: DemoArch): string {
  return `pibake demo image (${arch}), laid out like Raspberry Pi OS trixie, built from Debian packages\n`
}
