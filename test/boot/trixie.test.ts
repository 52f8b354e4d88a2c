/**
 * The proof that a build of a Raspberry Pi OS trixie-shaped image boots diskless: the trixie demo
 * image (NetworkManager through netplan, cloud-init with a NoCloud seed, zram swap) baked and
 * published by `build()`, one node booted by qemu-system-aarch64 on the fleet's test LAN exactly as
 * test/boot/nfsroot.test.ts boots bookworm's (site.ts: the site's published dnsmasq.conf on the boot
 * server, the published ganesha.conf on the NFS server with its per-node export of the identity
 * folder, the node's published kernel, initramfs and cmdline.txt), and checked as nfsroot's are
 * (which proves the rest: a second node, accounts). What trixie adds is checked here: cloud-init
 * did not run, NetworkManager leaves the boot interface alone even with a netplan file that claims
 * it (as cloud-init's `network-config` renders one at a first boot), zram is the only swap, no boot
 * partition and no seed on the node, nothing failed.
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Node } from '../../src/recipe/types.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { guestSsh } from '../helpers/qemu.ts'
import { FLEET, publishDemoBuild, type PublishedBuild } from './published.ts'
import { bootNode, checkBootedFrom, checkHostKeys, checkRunning, publishedHostKeys, serve, type Booted, type Site } from './site.ts'

/** From QEMU starting to sshd letting root in: generous, the machine's 2 cores are shared while the suite runs. */
const BOOT_TIMEOUT_MS = 600_000
const NODE = FLEET.nodes[0].hostname
const ADDRESS = FLEET.nodes[0].ip
/** The NoCloud seed files Raspberry Pi OS puts on its boot partition. */
const SEED = ['user-data', 'meta-data', 'network-config']

let published: PublishedBuild
let site: Site | undefined
let booted: Booted
let facts: Map<string, string>
const suiteStarted = performance.now()

/** What cloud-init writes at a first boot: a netplan file for the wired interface, here matched by the node's MAC. */
function netplanClaim(mac: string): string {
  return `# as cloud-init renders network-config at a first boot
network:
  version: 2
  renderer: NetworkManager
  ethernets:
    bootif:
      match:
        macaddress: "${mac}"
      dhcp4: true
      optional: true
`
}

test.before(async () => {
  await setup().catch((error: unknown) => {
    process.stderr.write(`trixie boot test setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  })
})

async function setup(): Promise<void> {
  const mac = FLEET.nodes[0].mac
  published = await publishDemoBuild('trixie-boot', {
    release: 'trixie',
    rootFiles: { '/etc/netplan/50-cloud-init.yaml': { content: netplanClaim(mac), mode: 0o600 } },
    // Debian's trixie kernel carries the Pi 5's device tree: the node is published as a Pi 5 and
    // boots its kernel_2712.img and initramfs_2712.
    models: { [NODE]: '5' },
  })
  process.stderr.write(`# trixie demo image ${published.seconds.image.toFixed(0)} s, build + publish ${published.seconds.build.toFixed(0)} s\n`)
  site = await serve(published)
  booted = await bootNode(site, spec(), ADDRESS, 1, BOOT_TIMEOUT_MS)
  try {
    // cloud-init's Python takes tens of seconds to start under emulation on a busy machine.
    facts = sections((await guestSsh(booted.guest, published.sshKey, probe(mac), { timeoutS: 240 })).stdout)
  } finally {
    await booted.guest.stop()
  }
}

test.after(async () => {
  try {
    await booted?.guest.stop()
    await site?.lan.close()
  } finally {
    const left = published ? await leftBehind(published.dir) : []
    await published?.remove()
    assert.equal(left, [], 'no loop device or mount is left behind')
    process.stderr.write(`# trixie boot test file: ${((performance.now() - suiteStarted) / 1000).toFixed(0)} s in all\n`)
  }
})

function spec(): Node {
  const node = published.recipe.nodes.find((n) => n.hostname === NODE)
  assert.ok(node, `${NODE} is in the recipe`)
  return node
}

/** Shell lines run on the node over SSH, beside guest-facts.ts's; each section's output follows its `== name` line. */
function probe(mac: string): string {
  return [
    `bootif=$(for d in /sys/class/net/*; do [ "$(cat "$d/address")" = "${mac}" ] && basename "$d"; done)`,
    'echo "== bootif"; echo "$bootif"',
    'echo "== nm-state"; nmcli -g GENERAL.STATE device show "$bootif" 2>&1',
    'echo "== nm-connections"; nmcli -t -f NAME,DEVICE connection show 2>&1',
    'echo "== address"; ip -o -4 addr show dev "$bootif"',
    // `cloud-init status` exits 0 for "disabled" (2 for a recoverable error): the text is what is asserted.
    'echo "== cloud-init"; cloud-init status 2>&1 || true',
    // Absent, or empty: either is asserted below (ls fails on an absent folder, hence || true).
    'echo "== run-cloud-init"; ls -A /run/cloud-init 2>&1 || true',
    'echo "== swaps"; tail -n +2 /proc/swaps',
    'echo "== boot-firmware"; ls -A /boot/firmware',
  ].join('\n')
}

function sections(stdout: string): Map<string, string> {
  const map = new Map<string, string>()
  for (const part of stdout.split(/^== /m).slice(1)) {
    const newline = part.indexOf('\n')
    map.set(part.slice(0, newline < 0 ? part.length : newline), newline < 0 ? '' : part.slice(newline + 1).trim())
  }
  return map
}

const fact = (name: string) => facts.get(name) ?? ''

test('the node is published as a Pi 5: its TFTP folder has config.txt, the bcm2712 device tree, kernel_2712.img and initramfs_2712', () => {
  const node = spec()
  assert.is(node.model, '5')
  for (const name of ['config.txt', 'bcm2712-rpi-5-b.dtb', 'kernel_2712.img', 'initramfs_2712', 'cmdline.txt']) {
    assert.ok(statSync(join(published.tftpDir(node), name)).size > 0, name)
  }
})

test("the trixie node boots its published cmdline.txt and the published root from the site's NFS server", () => {
  checkBootedFrom(published, booted)
})

test("it runs as itself: the site's address and hostname, tmpfs where it writes, nothing failed", () => {
  checkRunning(published, booted, ADDRESS)
  process.stderr.write(`# trixie boot to running under emulation: ${booted.seconds.toFixed(1)} s\n`)
})

test("sshd offers exactly the node's own published host keys", () => {
  checkHostKeys(booted.hostKeys, publishedHostKeys(published, spec()), NODE)
})

test("no boot partition on the node: /boot/firmware is the shared root's own folder, with no seed in it", () => {
  assert.not.ok(booted.facts.mounts.some((m) => m.path === '/boot/firmware'), 'nothing is mounted on /boot/firmware')
  const listing = fact('boot-firmware').split('\n').filter(Boolean).sort()
  assert.equal(listing, readdirSync(join(published.root, 'boot/firmware')).sort(), "the node's /boot/firmware is the published root's folder")
  for (const seed of SEED) assert.not.ok(listing.includes(seed), `no ${seed} where cloud-init's NoCloud would look: ${listing.join(' ')}`)
})

test('cloud-init is disabled: no run is recorded, its seed is not served', () => {
  assert.match(fact('cloud-init'), /^status: disabled$/m)
  for (const record of ['result.json', 'status.json', 'instance-data.json', '.instance-id']) {
    assert.not.ok(fact('run-cloud-init').split('\n').includes(record), `/run/cloud-init has no ${record}: ${fact('run-cloud-init')}`)
  }
  const served = readdirSync(published.tftpDir(spec()))
  assert.ok(served.includes('cmdline.txt'), `the node's boot files are there: ${served.join(' ')}`)
  for (const seed of SEED) assert.not.ok(served.includes(seed), `${seed} is not in the TFTP tree`)
})

test("NetworkManager leaves the boot interface unmanaged, though netplan made a connection for it", () => {
  assert.ok(fact('bootif'), 'the node has an interface with its MAC')
  assert.match(fact('nm-state'), /\(unmanaged\)|\(externally\)/, `NetworkManager's view of ${fact('bootif')}: ${fact('nm-state')}`)
  assert.match(fact('nm-connections'), /^netplan-bootif:$/m, `netplan generated a connection for the boot interface, not active: ${fact('nm-connections')}`)
  // The kernel's ip=dhcp address (from the site's dnsmasq) has no lease lifetime; a DHCP client's would be "dynamic".
  assert.match(fact('address'), new RegExp(`inet ${ADDRESS.replaceAll('.', '\\.')}/24 `), fact('address'))
  assert.not.match(fact('address'), /dynamic/, `the address is still the kernel's: ${fact('address')}`)
})

test('swap is zram only, no swap file', () => {
  const swaps = fact('swaps').split('\n').filter(Boolean)
  assert.ok(swaps.length > 0, 'zram swap is on')
  for (const line of swaps) assert.match(line, /^\/dev\/zram\d+\s+partition/, line)
})

test.run()
