/**
 * A published build served on a test LAN as the site runs it, and a node booted there, for the boot
 * tests (bookworm and trixie alike): the boot server (10.77.0.1) runs the site's published
 * `dnsmasq.conf` and the NFS server (10.77.0.2, rpcbind + nfs-ganesha) serves the published
 * `ganesha.conf`, both files as publish wrote them, where it wrote them. A node boots under
 * qemu-system-aarch64 (qemu-system-arm for an armhf build) on a tap device plugged into the LAN, from its published kernel, initramfs and
 * `cmdline.txt` (plus `console=ttyAMA0`, the emulated board's serial console, and systemd's device
 * timeout for emulation, as `pibake try` adds them; nothing else), and
 * is read over SSH from the boot server's namespace.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import type { Node } from '../../src/recipe/types.ts'
import { exec } from '../../src/system/exec.ts'
import { startDnsmasq } from '../helpers/dnsmasq.ts'
import { mountAt, readFacts, type Facts } from '../helpers/guest-facts.ts'
import { TestLan, type HostSpec } from '../helpers/netns.ts'
import { startNfsServer } from '../helpers/nfs-server.ts'
import { consoleTail, guestSsh, sshTarget, waitForSsh, type Guest } from '../helpers/qemu.ts'
import { bootOnLan } from '../helpers/tap.ts'
import { bootNames, CONSOLE_ARG as TRY_CONSOLE_ARG, SLOW_DEVICES_ARG } from '../../src/try/index.ts'
import type { GuestArch } from '../../src/try/qemu.ts'
import { FLEET, type PublishedBuild } from './published.ts'

/** A published build served on a test LAN of its own: the boot server and the NFS server. */
export interface Site {
  readonly published: PublishedBuild
  readonly lan: TestLan
}

export interface Booted {
  readonly node: Node
  readonly guest: Guest
  readonly facts: Facts
  /** The node's published `cmdline.txt` as it was when the node booted (a rebuild may change it after). */
  readonly cmdline: string
  /** `systemctl is-system-running --wait`. */
  readonly state: string
  /** Seconds from QEMU starting to `systemctl is-system-running --wait` returning. */
  readonly seconds: number
  /** What sshd offers, by key type (`ssh-ed25519` → base64). */
  readonly hostKeys: Map<string, string>
}

/**
 * What the boot tests add to the published command line, as `pibake try` does: the `virt` board's
 * serial console, and systemd's time for a device to appear and for a unit to start raised from 90 s
 * (an emulated CPU on a busy host, two guests at once, can take longer: the serial getty, zram swap
 * and systemd-modules-load then fail).
 */
export const CONSOLE_ARG = `${TRY_CONSOLE_ARG} ${SLOW_DEVICES_ARG}`

/** Every host key type sshd could be made to offer that pibake or an image makes (DSA is long disabled in sshd, and gone from OpenSSH 10). */
const SCANNED_KEY_TYPES = 'ed25519,ecdsa,rsa'

/**
 * A LAN with the boot server (10.77.0.1) and the NFS server (10.77.0.2) serving a build published
 * locally; `more` adds hosts (another DHCP server); the LAN is closed by the caller.
 */
export async function serve(build: PublishedBuild, more: readonly HostSpec[] = []): Promise<Site> {
  const lan = new TestLan()
  try {
    await lan.setup([{ name: 'srv', address: `${FLEET.server}/24` }, { name: 'nfs', address: `${FLEET.nfsServer}/24` }, ...more])
    return await serveOn(lan, build)
  } catch (error) {
    await lan.close()
    throw error
  }
}

/**
 * Runs the site's published `dnsmasq.conf` on the boot server and serves the published
 * `ganesha.conf` from the NFS server (the builds read-only to the fleet's subnet, the shared folder
 * read-write to it, each node's identity folder to that node's address alone, or to the subnet for a
 * node without one): both files as publish wrote them, where it wrote them.
 */
export async function serveOn(lan: TestLan, build: PublishedBuild): Promise<Site> {
  await startDnsmasq(lan, 'srv', join(build.publish, 'dnsmasq.conf'), await mkdtemp(join(build.dir, 'dnsmasq-')))
  const exports = readFileSync(join(build.nfsConfig, 'ganesha.conf'), 'utf8')
  const nfs = await startNfsServer(lan.ns('nfs'), { dir: await mkdtemp(join(build.dir, 'nfs-')), exports })
  // Stopped in reverse order: ganesha, then rpcbind.
  lan.track(nfs.rpcbindPid)
  lan.track(nfs.pid)
  return { published: build, lan }
}

/** The kernel and initramfs a node of this model boots on the build's architecture (as `pibake try` picks them). */
function bootFiles(build: PublishedBuild, node: Node): { kernel: string; initrd: string } {
  const { kernel, initramfs } = bootNames(guestArch(build), node)
  return { kernel, initrd: initramfs }
}

function guestArch(build: PublishedBuild): GuestArch {
  return build.recipe.image.arch ?? 'arm64'
}

/** The node's published `cmdline.txt` as it is served, and what the booted kernel must show. */
export function publishedCmdline(build: PublishedBuild, node: Node): string {
  return readFileSync(join(build.tftpDir(node), 'cmdline.txt'), 'utf8').trim()
}

/**
 * Boots a node on its site's LAN and reads it; `address` is where the node will be (its fleet
 * address, or what the LAN's DHCP server will give it). The guest keeps running: the caller stops it.
 */
export async function bootNode(on: Site, node: Node, address: string, round: number, timeoutMs: number): Promise<Booted> {
  const { published: build, lan } = on
  const files = build.tftpDir(node)
  const { kernel, initrd } = bootFiles(build, node)
  const cmdline = publishedCmdline(build, node)
  const guest = await bootOnLan(lan, {
    arch: guestArch(build),
    tap: `tap-${node.hostname}`,
    address,
    sshFrom: 'srv',
    kernel: join(files, kernel),
    initrd: join(files, initrd),
    append: `${cmdline} ${CONSOLE_ARG}`,
    mac: node.mac,
    serialLog: join(build.dir, `console-${node.hostname}-${round}.log`),
  })
  try {
    await waitForSsh(guest, build.sshKey, timeoutMs)
    const left = Math.max(10, Math.round((guest.startedAt + timeoutMs - performance.now()) / 1000))
    const state = await guestSsh(guest, build.sshKey, 'systemctl is-system-running --wait', { timeoutS: left, okCodes: [1] })
    const seconds = (performance.now() - guest.startedAt) / 1000
    const facts = await readFacts(guest, build.sshKey)
    process.stderr.write(`# ${node.hostname} (boot ${round}): ${state.stdout.trim()} ${seconds.toFixed(1)} s after QEMU started; ${facts.analyze.split('\n')[0] ?? ''}\n`)
    return { node, guest, facts, cmdline, state: state.stdout.trim(), seconds, hostKeys: await keyscan(guest) }
  } catch (error) {
    await guest.stop()
    const message = error instanceof Error ? error.message : String(error)
    throw new Error(`${node.hostname}: ${message}${message.includes('--- serial console') ? '' : `\n${consoleTail(guest)}`}`)
  }
}

/** The host keys sshd presents, by type, asked for every type it could offer, from the boot server's namespace. */
async function keyscan(guest: Guest): Promise<Map<string, string>> {
  const { netns, host, port } = sshTarget(guest)
  const { stdout } = await exec(['ip', 'netns', 'exec', netns, 'ssh-keyscan', '-T', '20', '-t', SCANNED_KEY_TYPES, '-p', String(port), host])
  return parseKeyscan(stdout)
}

function parseKeyscan(stdout: string): Map<string, string> {
  return new Map(stdout.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => {
    const [, type = '', key = ''] = line.split(' ')
    return [type, key]
  }))
}

/** The node's own published public keys of the recipe's types, by key type (`ssh-ed25519` → base64). */
export function publishedHostKeys(build: PublishedBuild, node: Node): Map<string, string> {
  return new Map(build.recipe.netboot.hostKeys.map((type) => {
    const [kind = '', key = ''] = readFileSync(join(build.nodeDir(node), `ssh_host_${type}_key.pub`), 'utf8').split(' ')
    return [kind, key]
  }))
}

/**
 * sshd offers exactly the recipe's key types (an image-wide key of another type, the same on every
 * node, would let one node pass for another), each the node's own published key.
 */
export function checkHostKeys(offered: ReadonlyMap<string, string>, own: ReadonlyMap<string, string>, hostname: string): void {
  assert.equal([...offered.keys()].sort(), [...own.keys()].sort(), `${hostname}: sshd offers exactly the recipe's host key types`)
  for (const [kind, key] of own) assert.is(offered.get(kind), key, `${hostname}: sshd presents the node's own ${kind} host key`)
}

/** What every booted node must show; `address` is the one it was to get. */
export function checkNode(build: PublishedBuild, result: Booted, address: string): void {
  checkBootedFrom(build, result)
  checkRunning(build, result, address)
  checkHostKeys(result.hostKeys, publishedHostKeys(build, result.node), result.node.hostname)
}

/** The node runs the kernel command line it was published with, and the published root from the fleet's NFS server. */
export function checkBootedFrom(build: PublishedBuild, { node, facts }: Booted): void {
  assert.is(facts.cmdline, `${publishedCmdline(build, node)} ${CONSOLE_ARG}`, 'the kernel ran with the published cmdline.txt, only the serial console and the device timeout added')
  const root = mountAt(facts, '/')
  assert.is(root.type, 'nfs', '/ is NFS')
  assert.is(root.device, `${FLEET.nfsServer}:${build.root}`, "/ is the published build's root, from the fleet's NFS server")
  assert.ok(root.options.includes('ro'), `/ is mounted read-only (${root.options.join(',')})`)
  assert.ok(root.options.includes('vers=3'), 'over NFSv3')
}

/** The node runs as itself: tmpfs where it writes, the LAN's address and its hostname, its identity, no failed unit. */
export function checkRunning(build: PublishedBuild, result: Booted, address: string): void {
  const { node, facts } = result
  for (const path of ['/var/log', '/tmp']) {
    const mount = mountAt(facts, path)
    assert.is(mount.type, 'tmpfs', `${path} is a tmpfs`)
    assert.ok(mount.options.includes('rw'), `${path} is mounted read-write`)
  }
  assert.equal(facts.writable, { '/': false, '/etc': false, '/var/log': true, '/tmp': true, '/var/tmp': true }, 'only the tmpfs paths can be written')
  assert.equal(facts.addresses, [address], 'the node has the address the LAN\'s DHCP server gives it')
  assert.is(facts.hostname, node.hostname, 'the node has its own hostname')
  assert.match(facts.machineId, /^[0-9a-f]{32}$/, 'a machine-id of its own')
  assert.match(facts.identity, /^active/, `pibake-identity.service ran: ${facts.identity}`)
  if (build.shared) checkAccounts(facts)
  assert.is(facts.failed, '', `no failed units:\n${facts.failed}`)
  assert.is(result.state, 'running', 'systemctl is-system-running')
}

function checkAccounts(facts: Facts): void {
  assert.match(facts.accounts, /^active/, `pibake-accounts.service ran: ${facts.accounts}`)
  const accounts = mountAt(facts, '/var/lib/pibake/accounts')
  assert.is(accounts.type, 'nfs', 'the accounts folder is the shared folder, bound')
  assert.ok(accounts.options.includes('rw'), 'read-write, so that --prefix tools can edit it')
}
