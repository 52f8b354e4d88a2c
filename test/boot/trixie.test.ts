/**
 * The proof that a build of a Raspberry Pi OS trixie-shaped image boots diskless: the trixie demo
 * image (NetworkManager through netplan, cloud-init with a NoCloud seed, zram swap) baked and
 * published by `build()`, one node booted by qemu-system-aarch64 with its root over NFSv3 from
 * nfs-ganesha, exactly as test/boot/nfsroot.test.ts does for bookworm (it proves the rest: a
 * second node, machine-ids). What trixie adds is checked here: cloud-init did not run, NetworkManager
 * leaves the boot interface alone even with a netplan file that claims it (as cloud-init's
 * `network-config` renders one at a first boot), zram is the only swap, nothing failed.
 */
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderGaneshaExports } from '../../src/netboot/exports.ts'
import type { Node } from '../../src/recipe/types.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { LoopbackNs } from '../helpers/loopback-ns.ts'
import { startNfsServer } from '../helpers/nfs-server.ts'
import { consoleTail, guestSsh, startGuest, waitForSsh, type Guest } from '../helpers/qemu.ts'
import { FLEET, publishDemoBuild, type PublishedBuild } from './published.ts'

/** From QEMU starting to sshd letting root in: generous, the machine's 2 cores are shared while the suite runs. */
const BOOT_TIMEOUT_MS = 600_000
/** QEMU's user network shows the namespace's loopback to the guest as this address. */
const SLIRP_HOST = '10.0.2.2'
const NODE = FLEET.nodes[0].hostname

let published: PublishedBuild
let ns: LoopbackNs
let facts: Map<string, string>
let seconds = 0
let hostKeys: Map<string, string>
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
  ns = new LoopbackNs('trixie')
  await ns.setup()
  const exports = renderGaneshaExports(published.recipe, {
    rootPath: join(published.recipeDir, 'builds'),
    clients: '127.0.0.1',
    nodes: published.recipe.nodes.map((node) => ({ path: published.nodeDir(node), client: '127.0.0.1' })),
  })
  ns.own(await startNfsServer(ns.name, { dir: published.dir, exports }))
  const node = published.recipe.nodes.find((n) => n.hostname === NODE)
  assert.ok(node)
  await boot(node)
}

test.after(async () => {
  try {
    await ns?.close()
  } finally {
    const left = published ? await leftBehind(published.dir) : []
    await published?.remove()
    assert.equal(left, [], 'no loop device or mount is left behind')
    process.stderr.write(`# trixie boot test file: ${((performance.now() - suiteStarted) / 1000).toFixed(0)} s in all\n`)
  }
})

function qemuCmdline(node: Node): string {
  const text = readFileSync(join(published.tftpDir(node), 'cmdline.txt'), 'utf8').trim()
  const from = `nfsroot=${published.recipe.netboot.nfs.server}:`
  assert.is(text.split(from).length, 2, `the published cmdline names the NFS server once: ${text}`)
  // systemd.show_status: the units' progress on the serial console, to see where a failed boot stopped.
  return `${text.replace(from, `nfsroot=${SLIRP_HOST}:`)} console=ttyAMA0 systemd.show_status=1`
}

/** Shell lines run on the node over SSH; each section's output follows its `== name` line. */
function probe(mac: string): string {
  return [
    `bootif=$(for d in /sys/class/net/*; do [ "$(cat "$d/address")" = "${mac}" ] && basename "$d"; done)`,
    'echo "== bootif"; echo "$bootif"',
    'echo "== mounts"; cat /proc/self/mounts',
    'echo "== hostname"; cat /proc/sys/kernel/hostname',
    'echo "== failed"; systemctl --failed --plain --no-legend --no-pager',
    'echo "== nm-state"; nmcli -g GENERAL.STATE device show "$bootif" 2>&1',
    'echo "== nm-connections"; nmcli -t -f NAME,DEVICE connection show 2>&1',
    'echo "== address"; ip -o -4 addr show dev "$bootif"',
    'echo "== cloud-init"; cloud-init status 2>&1 || true',
    'echo "== run-cloud-init"; ls -A /run/cloud-init 2>&1 || true',
    'echo "== swaps"; tail -n +2 /proc/swaps',
    'echo "== seed"; ls /boot/firmware 2>&1 || true',
  ].join('\n')
}

async function boot(node: Node): Promise<void> {
  const files = published.tftpDir(node)
  const guest: Guest = ns.own(
    startGuest({
      netns: ns.name,
      kernel: join(files, 'kernel_2712.img'),
      initrd: join(files, 'initramfs_2712'),
      append: qemuCmdline(node),
      mac: node.mac,
      sshPort: 2211,
      serialLog: join(published.dir, `console-${node.hostname}.log`),
    }),
  )
  try {
    await waitForSsh(guest, published.sshKey, BOOT_TIMEOUT_MS)
    const left = Math.max(10, Math.round((guest.startedAt + BOOT_TIMEOUT_MS - performance.now()) / 1000))
    const state = await guestSsh(guest, published.sshKey, 'systemctl is-system-running --wait', { timeoutS: left, okCodes: [1] })
    seconds = (performance.now() - guest.startedAt) / 1000
    // cloud-init's Python takes tens of seconds to start under emulation on a busy machine.
    facts = sections((await guestSsh(guest, published.sshKey, probe(node.mac), { timeoutS: 240 })).stdout)
    facts.set('state', state.stdout.trim())
    hostKeys = await keyscan(guest)
    process.stderr.write(`# ${node.hostname} (trixie): ${facts.get('state')} ${seconds.toFixed(1)} s after QEMU started\n`)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    throw new Error(`${node.hostname}: ${message}${message.includes('--- serial console') ? '' : `\n${consoleTail(guest)}`}`)
  } finally {
    await guest.stop()
  }
}

function sections(stdout: string): Map<string, string> {
  const map = new Map<string, string>()
  for (const part of stdout.split(/^== /m).slice(1)) {
    const newline = part.indexOf('\n')
    map.set(part.slice(0, newline < 0 ? part.length : newline), newline < 0 ? '' : part.slice(newline + 1).trim())
  }
  return map
}

async function keyscan(guest: Guest): Promise<Map<string, string>> {
  const { stdout } = await ns.run(['ssh-keyscan', '-T', '20', '-t', 'ed25519,ecdsa,rsa', '-p', String(guest.options.sshPort), '127.0.0.1'])
  return new Map(stdout.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => {
    const [, type = '', key = ''] = line.split(' ')
    return [type, key]
  }))
}

const fact = (name: string) => facts.get(name) ?? ''

test('the node is published as a Pi 5: its TFTP folder has config.txt, the bcm2712 device tree, kernel_2712.img and initramfs_2712', () => {
  const node = published.recipe.nodes.find((n) => n.hostname === NODE)!
  assert.is(node.model, '5')
  for (const name of ['config.txt', 'bcm2712-rpi-5-b.dtb', 'kernel_2712.img', 'initramfs_2712', 'cmdline.txt']) {
    assert.ok(statSync(join(published.tftpDir(node), name)).size > 0, name)
  }
})

test('the trixie node mounts the published build read-only over NFSv3 and runs as itself', () => {
  const root = fact('mounts').split('\n').map((line) => line.split(' ')).filter((m) => m[1] === '/').at(-1)
  assert.ok(root, '/ is mounted')
  assert.is(root[2], 'nfs', '/ is NFS')
  assert.is(root[0], `${SLIRP_HOST}:${published.root}`, "/ is the published build's root")
  assert.ok(root[3]?.split(',').includes('ro'), `/ is read-only (${root[3]})`)
  assert.ok(root[3]?.split(',').includes('vers=3'), 'over NFSv3')
  assert.is(fact('hostname'), NODE, 'the hostname is the node’s, not cloud-init’s nor the image’s')
  const node = published.recipe.nodes.find((n) => n.hostname === NODE)!
  for (const type of published.recipe.netboot.hostKeys) {
    const [kind = '', key = ''] = readFileSync(join(published.nodeDir(node), `ssh_host_${type}_key.pub`), 'utf8').split(' ')
    assert.is(hostKeys.get(kind), key, `sshd presents the node's own ${type} host key`)
  }
})

test('no unit failed and the system is running', () => {
  assert.is(fact('failed'), '', `no failed units:\n${fact('failed')}`)
  assert.is(fact('state'), 'running', 'systemctl is-system-running')
  process.stderr.write(`# trixie boot to running under emulation: ${seconds.toFixed(1)} s\n`)
})

test('cloud-init is disabled: no run is recorded, its seed is not served', () => {
  assert.match(fact('cloud-init'), /^status: disabled$/m)
  for (const record of ['result.json', 'status.json', 'instance-data.json', '.instance-id']) {
    assert.not.ok(fact('run-cloud-init').split('\n').includes(record), `/run/cloud-init has no ${record}: ${fact('run-cloud-init')}`)
  }
  const node = published.recipe.nodes.find((n) => n.hostname === NODE)!
  const served = readFileSync(join(published.tftpDir(node), 'cmdline.txt'), 'utf8')
  assert.ok(served.length > 0)
  for (const seed of ['user-data', 'meta-data', 'network-config']) {
    assert.throws(() => readFileSync(join(published.tftpDir(node), seed)), /ENOENT/, `${seed} is not in the TFTP tree`)
  }
})

test("NetworkManager leaves the boot interface unmanaged, though netplan made a connection for it", () => {
  assert.ok(fact('bootif'), 'the node has an interface with its MAC')
  assert.match(fact('nm-state'), /\(unmanaged\)|\(externally\)/, `NetworkManager's view of ${fact('bootif')}: ${fact('nm-state')}`)
  assert.match(fact('nm-connections'), /^netplan-bootif:$/m, `netplan generated a connection for the boot interface, not active: ${fact('nm-connections')}`)
  // The kernel's ip=dhcp address has no lease lifetime; a DHCP client's would be "dynamic".
  assert.match(fact('address'), /inet 10\.0\.2\.15\/24 /, fact('address'))
  assert.not.match(fact('address'), /dynamic/, `the address is still the kernel's: ${fact('address')}`)
})

test('swap is zram only, no swap file', () => {
  const swaps = fact('swaps').split('\n').filter(Boolean)
  assert.ok(swaps.length > 0, 'zram swap is on')
  for (const line of swaps) assert.match(line, /^\/dev\/zram\d+\s+partition/, line)
})

test.run()
