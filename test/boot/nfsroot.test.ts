/**
 * The proof that a published build boots, on the fleet's own network: a test LAN (a bridge in a
 * namespace) holding the boot server at 10.77.0.1 and the NFS server at 10.77.0.2, each with its
 * sshd; the demo image baked by `build()` with a shared folder that serves the accounts and published
 * to them over SSH, as to real servers; then the boot server runs the site's published
 * `dnsmasq.conf` as it arrived, and the NFS server (rpcbind + nfs-ganesha) serves the
 * `ganesha.conf` that arrived there. Two nodes boot at once under
 * qemu-system-aarch64, each on a tap device plugged into the bridge, from the published kernel,
 * initramfs and their own `cmdline.txt` (plus `console=ttyAMA0` and systemd's device timeout for
 * emulation, nothing else): dnsmasq gives each
 * its fleet address and hostname, and ganesha sees each at that address. The nodes are read over
 * SSH from the boot server's namespace (a test key put in by an overlay).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Node } from '../../src/recipe/types.ts'
import { exec } from '../../src/system/exec.ts'
import { startDnsmasq } from '../helpers/dnsmasq.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { TestLan } from '../helpers/netns.ts'
import { guestSsh } from '../helpers/qemu.ts'
import { startSshd } from '../helpers/sshd.ts'
import { FLEET, publishDemoBuild, type PublishedBuild, type SshPublish } from './published.ts'
import { bootNode, checkNode, serve, serveOn, type Booted, type Site } from './site.ts'

/**
 * From QEMU starting to sshd letting root in. HOST-NOTES: ~36–46 s on an idle machine; measured
 * 314 s here for one guest while the 2 cores ran other builds (load 9). A limit, not a benchmark.
 */
const BOOT_TIMEOUT_MS = 600_000
const NODES = ['boot-a', 'boot-b'] as const
/** The fleet user a node adds, and its password (checked against the hash the other node reads). */
const FLEET_USER = { name: 'fleetuser', password: 'pibake-fleet-pw' }
const SERVER_USER = 'serveruser'

let published: PublishedBuild
let site: Site
/** The publishing key, known_hosts and the two sshd's files. */
let sshDir: string | undefined
const suiteStarted = performance.now()

const booted = new Map<string, Booted>()

test.before(async () => {
  // uvu counts a failing before hook as failed tests but never prints why: say it here.
  await setup().catch((error: unknown) => {
    process.stderr.write(`boot test setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  })
})

async function setup(): Promise<void> {
  const lan = new TestLan()
  try {
    await lan.setup([{ name: 'srv', address: `${FLEET.server}/24` }, { name: 'nfs', address: `${FLEET.nfsServer}/24` }])
    const ssh = await sshHosts(lan)
    published = await publishDemoBuild('boot-test', { sharedAccounts: true, ssh })
    process.stderr.write(`# demo image ${published.seconds.image.toFixed(0)} s, build + publish over SSH ${published.seconds.build.toFixed(0)} s\n`)
    site = await serveOn(lan, published)
  } catch (error) {
    // after() closes the LAN once it is the site's; until then it is this function's.
    if (!site) await lan.close()
    throw error
  }
}

/**
 * The two servers as the admin has them: reached over SSH (sshd on each, with a key of the test's),
 * so that the nodes boot from the trees and configuration that arrived through rsync and SFTP. This
 * machine joins the LAN at 10.77.0.254 to reach them.
 */
async function sshHosts(lan: TestLan): Promise<SshPublish> {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-boot-ssh-'))
  sshDir = dir
  const identity = join(dir, 'id_publish')
  await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'pibake-boot-publish', '-f', identity])
  const authorizedKey = readFileSync(`${identity}.pub`, 'utf8')
  const lines: string[] = []
  for (const [host, address] of [['srv', FLEET.server], ['nfs', FLEET.nfsServer]] as const) {
    lines.push((await startSshd(lan, { host, address, dir: join(dir, `sshd-${host}`), authorizedKey })).knownHostsLine)
  }
  const knownHosts = join(dir, 'known_hosts')
  writeFileSync(knownHosts, `${lines.join('\n')}\n`)
  await lan.attachHere('10.77.0.254/24')
  return { nfsHost: `root@${FLEET.nfsServer}`, pxeHost: `root@${FLEET.server}`, identity, knownHosts }
}

test.after(async () => {
  try {
    await proxyRun?.catch(() => {}) // it stops its guest and closes its LAN itself
    for (const { guest } of booted.values()) await guest.stop()
    await site?.lan.close()
  } finally {
    if (sshDir) await rm(sshDir, { recursive: true, force: true })
    const left = published ? await leftBehind(published.dir) : []
    await published?.remove()
    assert.equal(left, [], 'no loop device or mount is left behind')
    process.stderr.write(`# boot test file: ${((performance.now() - suiteStarted) / 1000).toFixed(0)} s in all\n`)
  }
})

function spec(name: string): Node {
  const node = published.recipe.nodes.find((n) => n.hostname === name)
  assert.ok(node?.ip, `${name} is in the recipe with an address`)
  return node
}

/**
 * Boots both nodes at once (systemd's device timeout on the cmdline carries two emulated boots on 2
 * cores); the guests of an earlier round are stopped first. Each guest is recorded as soon as it
 * runs, so that after() stops it whatever happens to the other.
 */
async function bootAll(round: number): Promise<void> {
  for (const { guest } of booted.values()) await guest.stop()
  booted.clear()
  const results = await Promise.allSettled(NODES.map(async (name) => {
    const node = spec(name)
    booted.set(name, await bootNode(site, node, node.ip ?? '', round, BOOT_TIMEOUT_MS))
  }))
  for (const result of results) if (result.status === 'rejected') throw result.reason
}

function node(name: string): Booted {
  const found = booted.get(name)
  assert.ok(found, `${name} booted`)
  return found
}

test('two nodes boot the published build on the fleet network and run as themselves', async () => {
  await bootAll(1)
  for (const name of NODES) checkNode(published, node(name), spec(name).ip ?? '')
  const [a, b] = [node('boot-a'), node('boot-b')]
  assert.is.not(a.facts.machineId, b.facts.machineId, 'different machine-ids')
  assert.is.not(a.hostKeys.get('ssh-ed25519'), b.hostKeys.get('ssh-ed25519'), 'different host keys')
  process.stderr.write(`# first boot, both at once: ${[a, b].map((r) => `${r.node.hostname} ${r.seconds.toFixed(1)} s`).join(', ')}\n`)
})

/**
 * What every timer of the image starts, started now rather than when its calendar says: a job that
 * cannot run on the read-only root (dpkg-db-backup, apt's daily jobs) fails whenever it fires, and a
 * node of the fleet turns "degraded" once a day. Those are masked by the netboot stage; the rest run.
 */
const RUN_TIMERS = [
  'set -u',
  'for timer in $(systemctl list-units --type=timer --state=active --plain --no-legend | cut -d" " -f1); do',
  '  unit=$(systemctl show -P Unit "$timer")',
  '  if systemctl start "$unit" 2>/dev/null; then echo "ran $unit"; else echo "failed $unit"; fi',
  'done',
  'for timer in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer; do echo "$timer $(systemctl is-enabled "$timer")"; done',
  'systemctl --failed --plain --no-legend',
].join('\n')

test("every timer's job runs on the read-only root without failing; the root-changing ones are masked", async () => {
  const { stdout } = await guestSsh(node('boot-a').guest, published.sshKey, RUN_TIMERS, { timeoutS: 300, okCodes: [1] })
  process.stderr.write(`# timers' jobs on boot-a:\n${stdout.replace(/^/gm, '#   ')}\n`)
  assert.match(stdout, /^ran fstrim\.service$/m, "the image's own timers were found and their jobs run")
  assert.match(stdout, /^ran e2scrub_all\.service$/m)
  assert.not.match(stdout, /^failed /m, "no timer's job fails")
  for (const timer of ['apt-daily.timer', 'apt-daily-upgrade.timer', 'dpkg-db-backup.timer']) assert.match(stdout, new RegExp(`^${timer} masked$`, 'm'))
  assert.not.match(stdout, /\bfailed\b.*\bfailed\b/, 'no failed unit')
})

test("each node may mount its own identity folder and is refused the other node's", async () => {
  for (const [self, other] of [['boot-a', 'boot-b'], ['boot-b', 'boot-a']] as const) {
    const mount = (dir: string) =>
      `mount -t nfs -o ro,vers=3,nolock ${FLEET.nfsServer}:${dir} /mnt 2>&1 && ls /mnt && umount /mnt`
    const own = await guestSsh(node(self).guest, published.sshKey, mount(published.nodeDir(spec(self))), { okCodes: [1, 32] })
    assert.is(own.exitCode, 0, `${self} mounts its own identity folder: ${own.stdout}${own.stderr}`)
    assert.match(own.stdout, 'ssh_host_ed25519_key.pub')
    const theirs = await guestSsh(node(self).guest, published.sshKey, mount(published.nodeDir(spec(other))), { okCodes: [1, 32] })
    assert.is.not(theirs.exitCode, 0, `${self} must be refused ${other}'s identity folder: ${theirs.stdout}`)
    assert.match(theirs.stdout, /denied|not permitted/i, `${self} is refused ${other}'s folder by the server`)
  }
})

/** Polls `getent` on a node until the entry appears (an edit elsewhere reaches it through NFS). */
async function getent(on: Booted, database: string, key: string, timeoutMs = 90_000): Promise<string> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const result = await guestSsh(on.guest, published.sshKey, `getent ${database} ${key}`, { okCodes: [2] })
    if (result.exitCode === 0) return result.stdout.trim()
    if (performance.now() > deadline) throw new Error(`${on.node.hostname}: getent ${database} ${key} found nothing within ${timeoutMs / 1000} s`)
    await sleep(2000)
  }
}

test('an account added on one node with --prefix is seen by the other at once, password included', async () => {
  const [a, b] = [node('boot-a'), node('boot-b')]
  const plain = await guestSsh(a.guest, published.sshKey, `useradd ${FLEET_USER.name} 2>&1`, { okCodes: [1] })
  assert.match(plain.stdout, 'cannot lock /etc/passwd', 'without --prefix shadow cannot lock the read-only /etc (the README says what to do)')
  const add = [
    `useradd --prefix /shared -s /bin/bash -G sudo -c 'Fleet user' ${FLEET_USER.name}`,
    `echo '${FLEET_USER.name}:${FLEET_USER.password}' | chpasswd -c YESCRYPT --root /shared`,
  ].join(' && ')
  await guestSsh(a.guest, published.sshKey, add)
  const started = performance.now()
  const passwd = await getent(b, 'passwd', FLEET_USER.name)
  process.stderr.write(`# ${b.node.hostname} saw the user ${((performance.now() - started) / 1000).toFixed(1)} s after ${a.node.hostname} added it\n`)
  assert.match(passwd, new RegExp(`^${FLEET_USER.name}:x:\\d+:\\d+:Fleet user:/home/${FLEET_USER.name}:/bin/bash$`))
  const hash = (await getent(b, 'shadow', FLEET_USER.name)).split(':')[1] ?? ''
  assert.ok(await cryptMatches(FLEET_USER.password, hash), `the other node reads the password set on the first (${hash})`)
  const su = await guestSsh(b.guest, published.sshKey, `id -nG ${FLEET_USER.name}; su -s /bin/sh -c 'id -un' ${FLEET_USER.name}`)
  assert.match(su.stdout, /\bsudo\b/, 'in the sudo group')
  assert.match(su.stdout, new RegExp(`^${FLEET_USER.name}$`, 'm'), 'su switches to the user on the other node')
})

test('an account added on the NFS server with useradd --prefix reaches both nodes', async () => {
  assert.ok(published.shared)
  for (const name of NODES) node(name)
  await exec(['useradd', '--prefix', published.shared, '-s', '/bin/sh', SERVER_USER])
  for (const name of NODES) {
    assert.match(await getent(node(name), 'passwd', SERVER_USER), new RegExp(`^${SERVER_USER}:x:`))
    // The shared login.defs (seeded from the image) makes a private group, as useradd does on the image.
    assert.match(await getent(node(name), 'group', SERVER_USER), new RegExp(`^${SERVER_USER}:x:`))
  }
  const etc = join(published.shared, 'etc')
  const image = statSync(join(published.root, 'var/lib/pibake/accounts/shadow'))
  const shadow = statSync(join(etc, 'shadow'))
  assert.is((shadow.mode & 0o7777).toString(8), (image.mode & 0o7777).toString(8), "the shared shadow keeps the image's mode")
  assert.is(`${shadow.uid}:${shadow.gid}`, `${image.uid}:${image.gid}`, "and the image's owner (root:shadow)")
})

// One node boots again, not both: the accounts live on the NFS server, so one reboot proves they
// outlast it and are not seeded again (a second reboot cost CI a boot and proved the same).
test('after a second boot a node still has the fleet accounts and no failed unit, nothing seeded again', async () => {
  const name = 'boot-b'
  for (const { guest } of booted.values()) await guest.stop()
  booted.clear()
  // The proxy-mode node (the last test) boots meanwhile on a LAN of its own: the two boots share nothing.
  proxyRun ??= bootProxyNode()
  proxyRun.catch(() => {}) // its own test awaits it and reports how it failed
  const again = await bootNode(site, spec(name), spec(name).ip ?? '', 2, BOOT_TIMEOUT_MS)
  booted.set(name, again)
  checkNode(published, again, spec(name).ip ?? '')
  assert.match(await getent(again, 'passwd', FLEET_USER.name), new RegExp(`^${FLEET_USER.name}:`))
  assert.match(await getent(again, 'passwd', SERVER_USER), new RegExp(`^${SERVER_USER}:`))
  assert.not.match(again.facts.accounts, 'seeded', 'nothing seeded again')
  process.stderr.write(`# second boot of ${name}: ${again.seconds.toFixed(1)} s\n`)
})

/** A proxy-mode fleet beside an existing DHCP server: pibake answers the boot, its node has no `ip`. */
const PROXY_NODE = { hostname: 'proxy-a', mac: 'dc:a6:32:00:b0:03', model: '4B' } as const
/** The existing DHCP server: a plain dynamic range of one address, so the test knows where the node lands. */
const EXISTING_DHCP = { server: '10.77.0.3', free: '10.77.0.60' }

/** The proxy-mode node's boot, started beside boot-b's reboot (or by its own test, should that one not run). */
let proxyRun: Promise<void> | undefined

test('a proxy-mode node without a fixed address takes its address from the existing DHCP server and its identity from the NFS server', async () => {
  await (proxyRun ??= bootProxyNode())
})

/** Publishes the proxy-mode fleet, serves it on a LAN of its own with an existing DHCP server, boots its node and checks it. */
async function bootProxyNode(): Promise<void> {
  const proxy = await publishDemoBuild('proxy-test', {
    fleet: { dhcp: { mode: 'proxy', network: '10.77.0.0' }, nodes: [{ ...PROXY_NODE }] },
  })
  let served: Site | undefined
  try {
    const spec = proxy.recipe.nodes[0]
    assert.ok(spec && spec.ip === undefined, 'the node has no fixed address')
    const block = readFileSync(join(proxy.publish, 'ganesha.conf'), 'utf8').split('EXPORT {').find((b) => b.includes(proxy.nodeDir(spec)))
    assert.match(block ?? '', 'Clients = 10.77.0.0/24;', "its identity folder is exported to the fleet's subnet")
    served = await serve(proxy, [{ name: 'dhcp', address: `${EXISTING_DHCP.server}/24` }])
    const conf = join(proxy.dir, 'existing-dhcp.conf')
    writeFileSync(conf, `port=0\ndhcp-range=${EXISTING_DHCP.free},${EXISTING_DHCP.free},255.255.255.0,1h\ndhcp-option=option:router,${EXISTING_DHCP.server}\nlog-dhcp\n`)
    await startDnsmasq(served.lan, 'dhcp', conf, await mkdtemp(join(proxy.dir, 'existing-dhcp-')))
    const result = await bootNode(served, spec, EXISTING_DHCP.free, 1, BOOT_TIMEOUT_MS)
    try {
      checkNode(proxy, result, EXISTING_DHCP.free)
    } finally {
      await result.guest.stop()
    }
    process.stderr.write(`# proxy-mode node: ${result.seconds.toFixed(1)} s, build + publish ${proxy.seconds.build.toFixed(0)} s\n`)
  } finally {
    await served?.lan.close()
    const left = await leftBehind(proxy.dir)
    await proxy.remove()
    assert.equal(left, [], 'no loop device or mount is left behind')
  }
}

/**
 * Whether `hash` (crypt(5), yescrypt here) is the hash of `password`, by the host's libcrypt through
 * Perl's `crypt` (perl-base is Essential in Debian). Python's `crypt` module is gone in 3.13 (trixie),
 * and `openssl passwd` makes only MD5 and SHA-256/512 hashes, not yescrypt.
 */
async function cryptMatches(password: string, hash: string): Promise<boolean> {
  const script = 'print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? "yes" : "no"'
  const { stdout } = await exec(['perl', '-e', script, password, hash])
  return stdout === 'yes'
}

test.run()
