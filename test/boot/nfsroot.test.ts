/**
 * The proof that a published build boots: the demo image baked and published by `build()`, its root
 * served by nfs-ganesha (NFSv3, rpcbind) in a namespace holding only `lo`, and two nodes booted one
 * after the other by qemu-system-aarch64 in that namespace from the published kernel, initramfs and
 * node `cmdline.txt`. The only change to the command line is the NFS server's address, 10.0.2.2 (the
 * namespace's loopback as QEMU's user network shows it), plus `console=ttyAMA0` for the serial log.
 * Each node is then read over SSH (a test key put in by an overlay) and `ssh-keyscan`.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderGaneshaExports } from '../../src/netboot/exports.ts'
import type { Node } from '../../src/recipe/types.ts'
import { leftovers } from '../helpers/leftovers.ts'
import { LoopbackNs } from '../helpers/loopback-ns.ts'
import { startNfsServer } from '../helpers/nfs-server.ts'
import { consoleTail, guestSsh, startGuest, waitForSsh, type Guest } from '../helpers/qemu.ts'
import { publishDemoBuild, type PublishedBuild } from './published.ts'

/** From QEMU starting to sshd letting root in. HOST-NOTES measured ~36–46 s to multi-user here. */
const BOOT_TIMEOUT_MS = 240_000
/** QEMU's user network shows the namespace's loopback to the guest as this address. */
const SLIRP_HOST = '10.0.2.2'

let published: PublishedBuild
let ns: LoopbackNs
const suiteStarted = performance.now()

interface Booted {
  readonly node: Node
  readonly facts: Facts
  /** Seconds from QEMU starting to `systemctl is-system-running --wait` returning. */
  readonly seconds: number
  readonly hostKeys: Map<string, string>
}
const booted = new Map<string, Booted>()

test.before(async () => {
  // uvu counts a failing before hook as failed tests but never prints why: say it here.
  await setup().catch((error: unknown) => {
    process.stderr.write(`boot test setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  })
})

async function setup(): Promise<void> {
  published = await publishDemoBuild()
  process.stderr.write(`# demo image ${published.seconds.image.toFixed(0)} s, build + publish ${published.seconds.build.toFixed(0)} s\n`)
  ns = new LoopbackNs('boot')
  await ns.setup()
  // Slirp connects from the namespace's loopback: every guest is 127.0.0.1 to ganesha. The layout is
  // pibake's (builds read-only, each node's identity folder on its own), only the clients differ.
  const exports = renderGaneshaExports(published.recipe, {
    rootPath: join(published.recipeDir, 'builds'),
    clients: '127.0.0.1',
    nodes: published.recipe.nodes.map((node) => ({ path: published.nodeDir(node), client: '127.0.0.1' })),
  })
  ns.own(await startNfsServer(ns.name, { dir: published.dir, exports }))
}

test.after(async () => {
  try {
    await ns?.close()
  } finally {
    const left = published ? await leftovers(published.dir) : []
    await published?.remove()
    assert.equal(left, [], 'no loop device or mount is left behind')
    process.stderr.write(`# boot test file: ${((performance.now() - suiteStarted) / 1000).toFixed(0)} s in all\n`)
  }
})

/** The node's published command line with the NFS server's address, and only that, changed. */
function qemuCmdline(node: Node): string {
  const text = readFileSync(join(published.tftpDir(node), 'cmdline.txt'), 'utf8').trim()
  const from = `nfsroot=${published.recipe.netboot.nfs.server}:`
  assert.is(text.split(from).length, 2, `the published cmdline names the NFS server once: ${text}`)
  return `${text.replace(from, `nfsroot=${SLIRP_HOST}:`)} console=ttyAMA0`
}

async function boot(node: Node, sshPort: number): Promise<Booted> {
  const files = published.tftpDir(node)
  const guest = ns.own(
    startGuest({
      netns: ns.name,
      kernel: join(files, 'kernel8.img'),
      initrd: join(files, 'initramfs8'),
      append: qemuCmdline(node),
      mac: node.mac,
      sshPort,
      serialLog: join(published.dir, `console-${node.hostname}.log`),
    }),
  )
  try {
    await waitForSsh(guest, published.sshKey, BOOT_TIMEOUT_MS)
    const left = Math.max(10, Math.round((guest.startedAt + BOOT_TIMEOUT_MS - performance.now()) / 1000))
    const state = await guestSsh(guest, published.sshKey, 'systemctl is-system-running --wait', { timeoutS: left, okCodes: [1] })
    const seconds = (performance.now() - guest.startedAt) / 1000
    const facts = await readFacts(guest)
    facts.state = state.stdout.trim()
    const hostKeys = await keyscan(guest)
    process.stderr.write(
      `# ${node.hostname}: ${facts.state} ${seconds.toFixed(1)} s after QEMU started; ${facts.analyze.split('\n')[0] ?? ''}\n`,
    )
    return { node, facts, seconds, hostKeys }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    throw new Error(`${node.hostname}: ${message}${message.includes('--- serial console') ? '' : `\n${consoleTail(guest)}`}`)
  } finally {
    await guest.stop()
  }
}

interface Facts {
  state: string
  mounts: { device: string; path: string; type: string; options: string[] }[]
  hostname: string
  machineId: string
  failed: string
  analyze: string
  writable: Record<string, boolean>
  identity: string
}

const PROBE = [
  'echo "== mounts"; cat /proc/self/mounts',
  'echo "== hostname"; cat /proc/sys/kernel/hostname',
  'echo "== machine-id"; cat /etc/machine-id',
  'echo "== failed"; systemctl --failed --plain --no-legend --no-pager',
  'echo "== analyze"; systemd-analyze time --no-pager 2>&1 || true',
  'echo "== writable"; for d in / /etc /var/log /tmp /var/tmp; do if touch "$d/.pibake-probe" 2>/dev/null; then rm -f "$d/.pibake-probe"; echo "$d yes"; else echo "$d no"; fi; done',
  'echo "== identity"; systemctl is-active pibake-identity.service || true; journalctl -b -u pibake-identity.service --no-pager -o cat 2>&1 | tail -n 20',
].join('\n')

async function readFacts(guest: Guest): Promise<Facts> {
  const { stdout } = await guestSsh(guest, published.sshKey, PROBE)
  const sections = new Map<string, string>()
  for (const part of stdout.split(/^== /m).slice(1)) {
    const newline = part.indexOf('\n')
    sections.set(part.slice(0, newline < 0 ? part.length : newline), newline < 0 ? '' : part.slice(newline + 1).trim())
  }
  const get = (name: string) => sections.get(name) ?? ''
  return {
    state: '',
    mounts: get('mounts').split('\n').map((line) => {
      const [device = '', path = '', type = '', options = ''] = line.split(' ')
      return { device, path, type, options: options.split(',') }
    }),
    hostname: get('hostname'),
    machineId: get('machine-id'),
    failed: get('failed'),
    analyze: get('analyze'),
    writable: Object.fromEntries(get('writable').split('\n').map((line) => [line.split(' ')[0] ?? '', line.endsWith(' yes')])),
    identity: get('identity'),
  }
}

/** The host keys sshd presents, by type (`ssh-ed25519` → base64), read from inside the namespace. */
async function keyscan(guest: Guest): Promise<Map<string, string>> {
  const { stdout } = await ns.run(['ssh-keyscan', '-T', '20', '-t', 'ed25519,ecdsa,rsa', '-p', String(guest.options.sshPort), '127.0.0.1'])
  return new Map(stdout.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => {
    const [, type = '', key = ''] = line.split(' ')
    return [type, key]
  }))
}

function mountAt(facts: Facts, path: string) {
  const found = facts.mounts.filter((m) => m.path === path).at(-1)
  assert.ok(found, `${path} is a mount point`)
  return found
}

function publishedKey(node: Node, type: string): [string, string] {
  const [kind = '', key = ''] = readFileSync(join(published.nodeDir(node), `ssh_host_${type}_key.pub`), 'utf8').split(' ')
  return [kind, key]
}

function checkNode(result: Booted): void {
  const { node, facts } = result
  const root = mountAt(facts, '/')
  assert.is(root.type, 'nfs', '/ is NFS')
  assert.is(root.device, `${SLIRP_HOST}:${published.root}`, "/ is the published build's root")
  assert.ok(root.options.includes('ro'), `/ is mounted read-only (${root.options.join(',')})`)
  assert.ok(root.options.includes('vers=3'), 'over NFSv3')
  for (const path of ['/var/log', '/tmp']) {
    const mount = mountAt(facts, path)
    assert.is(mount.type, 'tmpfs', `${path} is a tmpfs`)
    assert.ok(mount.options.includes('rw'), `${path} is mounted read-write`)
  }
  assert.equal(facts.writable, { '/': false, '/etc': false, '/var/log': true, '/tmp': true, '/var/tmp': true }, 'only the tmpfs paths can be written')
  assert.is(facts.hostname, node.hostname, 'the node took its hostname from <nfs>/<recipe>/nodes/<mac>/hostname')
  assert.match(facts.machineId, /^[0-9a-f]{32}$/, 'a machine-id of its own')
  assert.match(facts.identity, /^active/, `pibake-identity.service ran: ${facts.identity}`)
  assert.is(facts.failed, '', `no failed units:\n${facts.failed}`)
  assert.is(facts.state, 'running', 'systemctl is-system-running')
  for (const type of ['ed25519', 'ecdsa', 'rsa']) {
    const [kind, key] = publishedKey(node, type)
    assert.is(result.hostKeys.get(kind), key, `sshd presents the node's own ${type} host key`)
  }
}

for (const [index, node] of (['boot-a', 'boot-b'] as const).entries()) {
  test(`node ${node} boots the published build over NFS and runs as itself`, async () => {
    const spec = published.recipe.nodes.find((n) => n.hostname === node)
    assert.ok(spec)
    const result = await boot(spec, 2201 + index)
    booted.set(node, result)
    checkNode(result)
  })
}

test('two nodes booted from the same build have different machine-ids and host keys', () => {
  const [a, b] = ['boot-a', 'boot-b'].map((name) => booted.get(name))
  assert.ok(a && b, 'both nodes booted')
  assert.is.not(a.facts.machineId, b.facts.machineId)
  assert.is.not(a.hostKeys.get('ssh-ed25519'), b.hostKeys.get('ssh-ed25519'))
  process.stderr.write(`# boot to multi-user under emulation: ${[a, b].map((r) => `${r.node.hostname} ${r.seconds.toFixed(1)} s`).join(', ')}\n`)
})

test.run()
