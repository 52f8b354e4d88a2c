/**
 * The root modes (`netboot.root`) booted as a fleet runs them, for test/boot/roots-*.test.ts: the
 * demo image baked and published with one mode (test/boot/published.ts), served on a test LAN as
 * site.ts serves it (the published dnsmasq.conf and ganesha.conf), and one node booted twice under
 * QEMU: the first boot writes where the read-only root refuses it and counts the guest's NFS calls,
 * the second looks for those writes. For `ram`, the NFS server is then stopped and the node must
 * still run a program it never ran, answer SSH and write.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import type { RootMode } from '../../src/roots/modes.ts'
import type { Node } from '../../src/recipe/types.ts'
import { startDnsmasq } from '../helpers/dnsmasq.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { TestLan } from '../helpers/netns.ts'
import { startNfsServer, type NfsServer } from '../helpers/nfs-server.ts'
import { guestSsh } from '../helpers/qemu.ts'
import { FLEET, publishDemoBuild, type PublishedBuild } from './published.ts'
import { bootNode, type Booted } from './site.ts'

/** From QEMU starting to sshd letting root in: generous, the machine's 2 cores are shared. */
const BOOT_TIMEOUT_MS = 1_200_000
export const NODE = FLEET.nodes[0]

/** NFSv3 procedures in the order of the `proc3` line of /proc/net/rpc/nfs. */
const NFS3_PROCS = ['null', 'getattr', 'setattr', 'lookup', 'access', 'readlink', 'read', 'write', 'create', 'mkdir', 'symlink', 'mknod', 'remove', 'rmdir', 'rename', 'link', 'readdir', 'readdirplus', 'fsstat', 'fsinfo', 'pathconf', 'commit'] as const

export interface RootRun {
  readonly mode: RootMode
  readonly published: PublishedBuild
  readonly node: Node
  readonly first: Booted
  /** The first boot's probe, by section (`== name`). */
  readonly wrote: Map<string, string>
  /** The second boot's (absent for `nfs`, which writes nothing). */
  readonly second?: Booted
  readonly again?: Map<string, string>
  /** `ram`: what the node did once the NFS server was stopped. */
  readonly serverless?: Map<string, string>
  /** The guest's NFSv3 calls of the first boot, by procedure, and in all. */
  readonly nfsCalls: Readonly<Record<string, number>>
  remove(): Promise<void>
}

const WRITE_PROBE = [
  'echo "== rpc"; cat /proc/net/rpc/nfs',
  'echo "== root"; findmnt -n -o FSTYPE,SOURCE /',
  'echo "== lower"; findmnt -rn -o FSTYPE,SOURCE /run/pibake/lower || true',
  'echo "== nfs-mounts"; awk \'$3 ~ /^nfs/ {print $1, $2}\' /proc/mounts',
  'echo "== df-before"; df -B1 --output=used / | tail -1',
  'echo "== write"; { echo pibake >/usr/local/bin/x && echo pibake >/var/lib/x && cat /usr/local/bin/x /var/lib/x; } 2>&1 || echo failed',
  'echo "== big"; dd if=/dev/urandom of=/var/lib/pibake-big bs=1M count=16 2>&1 | tail -1',
  'echo "== df-after"; df -B1 --output=used / | tail -1',
].join('\n')

const GONE_PROBE = 'echo "== gone"; for f in /usr/local/bin/x /var/lib/x /var/lib/pibake-big; do [ -e "$f" ] && echo "$f is there" || echo "$f absent"; done'

/** Run with the NFS server stopped: `factor` is run by nothing at boot, so its pages were never read. */
const SERVERLESS_PROBE = [
  'echo "== factor"; factor 1234567',
  'echo "== write"; echo after >/var/lib/after && cat /var/lib/after',
  'echo "== nfs-mounts"; awk \'$3 ~ /^nfs/ {print $1, $2}\' /proc/mounts',
].join('\n')

/** Publishes the demo image with `mode`, serves it, boots its first node twice (once for `nfs`), and reads it. */
export async function runRoot(mode: RootMode): Promise<RootRun> {
  const published = await publishDemoBuild(`roots-${mode}`, mode === 'nfs' ? {} : { root: mode })
  process.stderr.write(`# roots ${mode}: build + publish ${published.seconds.build.toFixed(0)} s\n`)
  const lan = new TestLan()
  const node = published.recipe.nodes.find((n) => n.hostname === NODE.hostname)!
  const guests: Booted[] = []
  const remove = async () => {
    for (const booted of guests) await booted.guest.stop()
    await lan.close()
    const left = await leftBehind(published.dir)
    await published.remove()
    if (left.length) throw new Error(`left behind:\n${left.join('\n')}`)
  }
  try {
    await lan.setup([{ name: 'srv', address: `${FLEET.server}/24` }, { name: 'nfs', address: `${FLEET.nfsServer}/24` }])
    await startDnsmasq(lan, 'srv', join(published.publish, 'dnsmasq.conf'), await mkdtemp(join(published.dir, 'dnsmasq-')))
    const nfs = await startNfsServer(lan.ns('nfs'), { dir: await mkdtemp(join(published.dir, 'nfs-')), exports: readFileSync(join(published.nfsConfig, 'ganesha.conf'), 'utf8') })
    lan.track(nfs.rpcbindPid)
    lan.track(nfs.pid)
    const site = { published, lan }
    const first = await bootNode(site, node, NODE.ip, 1, BOOT_TIMEOUT_MS)
    guests.push(first)
    const wrote = sections((await guestSsh(first.guest, published.sshKey, WRITE_PROBE, { timeoutS: 240 })).stdout)
    const nfsCalls = parseRpc(wrote.get('rpc') ?? '')
    process.stderr.write(`# roots ${mode}: ${first.seconds.toFixed(1)} s to running; guest NFSv3 calls ${JSON.stringify(nfsCalls)}\n`)
    await first.guest.stop()
    if (mode === 'nfs') return { mode, published, node, first, wrote, nfsCalls, remove }
    const second = await bootNode(site, node, NODE.ip, 2, BOOT_TIMEOUT_MS)
    guests.push(second)
    const again = sections((await guestSsh(second.guest, published.sshKey, GONE_PROBE, { timeoutS: 240 })).stdout)
    const serverless = mode === 'ram' ? await withoutServer(nfs, second, published) : undefined
    await second.guest.stop()
    return { mode, published, node, first, wrote, second, again, nfsCalls, remove, ...(serverless ? { serverless } : {}) }
  } catch (error) {
    await remove().catch((cleanup: unknown) => process.stderr.write(`roots ${mode}: cleanup failed too: ${String(cleanup)}\n`))
    throw error
  }
}

async function withoutServer(nfs: NfsServer, booted: Booted, published: PublishedBuild): Promise<Map<string, string>> {
  await nfs.stop()
  return sections((await guestSsh(booted.guest, published.sshKey, SERVERLESS_PROBE, { timeoutS: 120 })).stdout)
}

/** `proc3 22 <null> <getattr> …` → calls by procedure (those made), and `total`. */
export function parseRpc(text: string): Record<string, number> {
  const counts = /^proc3 \d+ (.*)$/m.exec(text)?.[1]?.trim().split(/\s+/).map(Number) ?? []
  const calls: Record<string, number> = { total: counts.reduce((a, b) => a + b, 0) }
  for (const [index, name] of NFS3_PROCS.entries()) if (counts[index]) calls[name] = counts[index]
  return calls
}

export function sections(stdout: string): Map<string, string> {
  const map = new Map<string, string>()
  for (const part of stdout.split(/^== /m).slice(1)) {
    const newline = part.indexOf('\n')
    map.set(part.slice(0, newline < 0 ? part.length : newline), newline < 0 ? '' : part.slice(newline + 1).trim())
  }
  return map
}
