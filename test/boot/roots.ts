/**
 * The root modes (`netboot.root`) booted as a fleet runs them, for test/boot/roots-*.test.ts: a demo
 * image baked and published with one mode per recipe (test/boot/published.ts), every recipe into
 * one out dir kept under out/ (out/test-roots: the layers and the initramfs the root modes rebuild
 * are made once per image, by the first test that needs them), each recipe with a node of its own.
 * The site is served on a test LAN as site.ts serves it (the published dnsmasq.conf and
 * ganesha.conf), and the nodes of one run boot at the same time: the first boot writes where the
 * read-only root refuses it and counts the guest's NFS calls and the bytes sent to it; a second
 * boot, where asked, looks for those writes. Then, where asked, the NFS server is stopped: a `ram`
 * node must still run a program it never ran, answer SSH and write; an `nfs` node hangs.
 *
 * An image root may be asked to be `ordered`: its first boot's read set is listed on the node, as
 * `pibake try --record-reads` lists an image root's (src/try/reads.ts), and written beside its build;
 * the recipe is then built again with one change (an argument on the node's command line: a new
 * build, whose image puts those files first, src/roots/order.ts), and the second boot boots that
 * build and counts its NFS calls too.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { build } from '../../src/build.ts'
import type { DemoRelease } from '../../src/demo/build.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'
import { READS_VERSION } from '../../src/rehearse/reads.ts'
import { residentReadSet, RESIDENT_FILES_COMMAND, writeReadSet } from '../../src/try/reads.ts'
import type { RootMode } from '../../src/roots/modes.ts'
import type { Node } from '../../src/recipe/types.ts'
import { exec } from '../../src/system/exec.ts'
import { startDnsmasq } from '../helpers/dnsmasq.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { TestLan } from '../helpers/netns.ts'
import { startNfsServer, type NfsServer } from '../helpers/nfs-server.ts'
import { guestSsh } from '../helpers/qemu.ts'
import { FLEET, publishDemoBuild, type PublishedBuild } from './published.ts'
import { bootNode, type Booted } from './site.ts'

/** From QEMU starting to sshd letting root in: generous, the machine's 2 cores are shared by two guests and more. */
const BOOT_TIMEOUT_MS = 1_500_000
/** Where every roots test builds and publishes: kept between runs, one site. */
export const ROOTS_OUT = resolve(import.meta.dirname, '../../out/test-roots')

/** A demo image the root modes are proven on; `tag` names its recipes and nodes. */
export interface DemoKind {
  readonly release: DemoRelease
  readonly arch: 'arm64' | 'armhf'
  readonly tag: string
}

export const BOOKWORM_ARM64: DemoKind = { release: 'bookworm', arch: 'arm64', tag: 'bw64' }
export const TRIXIE_ARM64: DemoKind = { release: 'trixie', arch: 'arm64', tag: 'tx64' }
export const BOOKWORM_ARMHF: DemoKind = { release: 'bookworm', arch: 'armhf', tag: 'bw32' }

const KINDS = [BOOKWORM_ARM64, TRIXIE_ARM64, BOOKWORM_ARMHF]
const MODES: readonly RootMode[] = ['nfs', 'overlay', 'squashfs', 'ram']
const SHORT: Readonly<Record<RootMode, string>> = { nfs: 'nfs', overlay: 'ovl', squashfs: 'sq', ram: 'ram' }

/** The node of one image and mode: a hostname, MAC and address of its own, so that all of them are one site. */
export function rootNode(kind: DemoKind, mode: RootMode): { hostname: string; mac: string; ip: string; model: '4B'; cmdline: string[] } {
  const k = KINDS.indexOf(kind)
  const m = MODES.indexOf(mode)
  if (k < 0 || m < 0) throw new Error(`no node for ${kind.tag} ${mode}`)
  const hostname = `${kind.tag}-${SHORT[mode]}`
  return { hostname, mac: `dc:a6:32:00:c${k}:0${m}`, ip: `10.77.0.${20 + 10 * k + m}`, model: '4B', cmdline: [`pibake.node=${hostname}`] }
}

/** NFSv3 procedures in the order of the `proc3` line of /proc/net/rpc/nfs. */
const NFS3_PROCS = ['null', 'getattr', 'setattr', 'lookup', 'access', 'readlink', 'read', 'write', 'create', 'mkdir', 'symlink', 'mknod', 'remove', 'rmdir', 'rename', 'link', 'readdir', 'readdirplus', 'fsstat', 'fsinfo', 'pathconf', 'commit'] as const

export interface RootSpec {
  readonly kind: DemoKind
  readonly mode: RootMode
  /** Boot a second time and look for the first boot's writes (gone). */
  readonly reboot?: boolean
  /** An image root: record the first boot's read set, build again, boot the new build (its image in read order) the second time. */
  readonly ordered?: boolean
}

export interface RootRun {
  readonly mode: RootMode
  readonly kind: DemoKind
  readonly published: PublishedBuild
  readonly node: Node
  readonly first: Booted
  /** The first boot's probe, by section (`== name`). */
  readonly wrote: Map<string, string>
  /** The second boot's, when asked for. */
  readonly second?: Booted
  readonly again?: Map<string, string>
  /** `ordered`: the second boot's NFS calls (the new build's image, in read order), and the files the first boot's read set listed. */
  readonly againCalls?: Readonly<Record<string, number>>
  readonly readSetFiles?: number
  /** Once the NFS server was stopped: what a `ram` node did, or how an `nfs` node hung. */
  readonly serverless?: Map<string, string>
  /** The guest's NFSv3 calls of the first boot, by procedure, and in all. */
  readonly nfsCalls: Readonly<Record<string, number>>
  /** Bytes sent to the node from QEMU starting to the probe (its tap device's counter on the LAN: NFS, and a little DHCP and SSH). */
  readonly bytesIn: number
  /** Memory in use at the probe (MemTotal − MemAvailable), bytes. */
  readonly memUsed: number
}

const WRITE_PROBE = [
  'echo "== rpc"; cat /proc/net/rpc/nfs',
  'echo "== root"; findmnt -n -o FSTYPE,SOURCE /',
  'echo "== lower"; findmnt -rn -o FSTYPE,SOURCE /run/pibake/lower || true',
  'echo "== nfs-mounts"; awk \'$3 ~ /^nfs/ {print $1, $2}\' /proc/mounts',
  'echo "== mem"; awk \'/^(MemTotal|MemAvailable):/ {print $2}\' /proc/meminfo',
  'echo "== df-before"; df -B1 --output=used / | tail -1',
  'echo "== write"; { echo pibake >/usr/local/bin/x && echo pibake >/var/lib/x && cat /usr/local/bin/x /var/lib/x; } 2>&1 || echo failed',
  'echo "== big"; dd if=/dev/urandom of=/var/lib/pibake-big bs=1M count=16 2>&1 | tail -1',
  'echo "== df-after"; df -B1 --output=used / | tail -1',
].join('\n')

const GONE_PROBE = 'echo "== rpc"; cat /proc/net/rpc/nfs\necho "== gone"; for f in /usr/local/bin/x /var/lib/x /var/lib/pibake-big; do [ -e "$f" ] && echo "$f is there" || echo "$f absent"; done'

/** Run with the NFS server stopped: `factor` is run by nothing at boot, so its pages were never read. */
const SERVERLESS_PROBE = [
  'echo "== factor"; factor 1234567',
  'echo "== write"; echo after >/var/lib/after && cat /var/lib/after',
  'echo "== nfs-mounts"; awk \'$3 ~ /^nfs/ {print $1, $2}\' /proc/mounts',
].join('\n')

/** How long the hang of an `nfs` node is given to end: it never does, so SSH is stopped then. */
export const HANG_S = 60

/** The same program on an `nfs` node: its pages are on the stopped server, so it never runs (nor, mostly, does SSH's session). */
const HANG_PROBE = 'echo "== factor"; timeout 20 factor 1234567; echo "exit $?"'

/** Publishes each spec's recipe, serves the site, boots every node at once (twice where asked), and reads them. */
export async function runRoots(specs: readonly RootSpec[], options: { stopServer?: boolean } = {}): Promise<{ runs: RootRun[]; remove(): Promise<void> }> {
  const published: PublishedBuild[] = []
  const lan = new TestLan()
  const guests: Booted[] = []
  const remove = async () => {
    for (const booted of guests) await booted.guest.stop()
    await lan.close()
    // The builds were checked as they ended (publishDemoBuild): what the boots may leave is in each test's own folder.
    const left = (await Promise.all(published.map((build) => leftBehind(build.dir)))).flat()
    for (const build of published) await build.remove()
    if (left.length) throw new Error(`left behind:\n${left.join('\n')}`)
  }
  try {
    for (const spec of specs) {
      const started = performance.now()
      const node = rootNode(spec.kind, spec.mode)
      // Its first image in mksquashfs's order: no read set of an earlier run stays beside its builds.
      if (spec.ordered) await forgetReadSets(join(ROOTS_OUT, 'publish/nfs', `roots-${spec.kind.tag}-${spec.mode}`, 'builds'))
      published.push(await publishDemoBuild(`roots-${spec.kind.tag}-${spec.mode}`, {
        outDir: ROOTS_OUT, release: spec.kind.release, arch: spec.kind.arch, fleet: { dhcp: FLEET.dhcp, nodes: [node] }, ...(spec.mode === 'nfs' ? {} : { root: spec.mode }),
      }))
      process.stderr.write(`# roots ${spec.kind.tag} ${spec.mode}: build + publish ${((performance.now() - started) / 1000).toFixed(0)} s\n`)
    }
    // Every recipe is published into one out dir: the last publish's site files serve them all.
    const siteBuild = published.at(-1)!
    await lan.setup([{ name: 'srv', address: `${FLEET.server}/24` }, { name: 'nfs', address: `${FLEET.nfsServer}/24` }])
    await startDnsmasq(lan, 'srv', join(siteBuild.publish, 'dnsmasq.conf'), await mkdtemp(join(siteBuild.dir, 'dnsmasq-')))
    const nfs = await startNfsServer(lan.ns('nfs'), { dir: await mkdtemp(join(siteBuild.dir, 'nfs-')), exports: readFileSync(join(siteBuild.nfsConfig, 'ganesha.conf'), 'utf8') })
    lan.track(nfs.rpcbindPid)
    lan.track(nfs.pid)
    const nodes = specs.map((spec, i) => published[i]!.recipe.nodes[0]!)
    const firsts = await Promise.all(specs.map(async (spec, i) => {
      const booted = await bootNode({ published: published[i]!, lan }, nodes[i]!, nodes[i]!.ip ?? '', 1, BOOT_TIMEOUT_MS)
      guests.push(booted)
      const wrote = sections((await guestSsh(booted.guest, published[i]!.sshKey, WRITE_PROBE, { timeoutS: 300 })).stdout)
      const bytesIn = await tapBytes(lan, nodes[i]!)
      const nfsCalls = parseRpc(wrote.get('rpc') ?? '')
      const memUsed = memoryUsed(wrote.get('mem') ?? '')
      process.stderr.write(`# roots ${spec.kind.tag} ${spec.mode}: ${booted.seconds.toFixed(1)} s to running; ${bytesIn} bytes sent to the node; ${memUsed} bytes of memory used; guest NFSv3 calls ${JSON.stringify(nfsCalls)}\n`)
      // After the probe, whose NFS counts it would add to (it reads the image's every directory).
      const readSetFiles = spec.ordered ? await recordResident(published[i]!, booted) : undefined
      return { booted, wrote, bytesIn, nfsCalls, memUsed, readSetFiles }
    }))
    const seconds = await Promise.all(specs.map(async (spec, i) => {
      if (!spec.reboot) return undefined
      await firsts[i]!.booted.guest.stop()
      if (spec.ordered) await buildAgain(published[i]!)
      const booted = await bootNode({ published: published[i]!, lan }, nodes[i]!, nodes[i]!.ip ?? '', 2, BOOT_TIMEOUT_MS)
      guests.push(booted)
      const again = sections((await guestSsh(booted.guest, published[i]!.sshKey, GONE_PROBE, { timeoutS: 300 })).stdout)
      const againCalls = parseRpc(again.get('rpc') ?? '')
      if (spec.ordered) process.stderr.write(`# roots ${spec.kind.tag} ${spec.mode}, the build again, its image in read order: ${booted.seconds.toFixed(1)} s to running; guest NFSv3 calls ${JSON.stringify(againCalls)}\n`)
      return { booted, again, againCalls }
    }))
    const serverless = options.stopServer ? await withoutServer(nfs, specs.map((spec, i) => ({ mode: spec.mode, booted: seconds[i]?.booted ?? firsts[i]!.booted, key: published[i]!.sshKey }))) : undefined
    const runs = specs.map((spec, i): RootRun => ({
      mode: spec.mode,
      kind: spec.kind,
      published: published[i]!,
      node: nodes[i]!,
      first: firsts[i]!.booted,
      wrote: firsts[i]!.wrote,
      nfsCalls: firsts[i]!.nfsCalls,
      bytesIn: firsts[i]!.bytesIn,
      memUsed: firsts[i]!.memUsed,
      ...(seconds[i] ? { second: seconds[i].booted, again: seconds[i].again } : {}),
      ...(spec.ordered && seconds[i] ? { againCalls: seconds[i].againCalls, readSetFiles: firsts[i]!.readSetFiles } : {}),
      ...(serverless?.[i] ? { serverless: serverless[i] } : {}),
    }))
    for (const booted of guests) await booted.guest.stop()
    return { runs, remove }
  } catch (error) {
    await remove().catch((cleanup: unknown) => process.stderr.write(`roots: cleanup failed too: ${String(cleanup)}\n`))
    throw error
  }
}

/** Lists the files of the node's image root in its memory and writes them as its build's read set, as pibake try --record-reads does; how many. */
async function recordResident(build: PublishedBuild, booted: Booted): Promise<number> {
  const listed = await guestSsh(booted.guest, build.sshKey, RESIDENT_FILES_COMMAND, { timeoutS: 600, okCodes: [0, 123] })
  const files = residentReadSet(listed.stdout)
  const written = await writeReadSet(build.recipeDir, { version: READS_VERSION, build: build.id, recipe: build.recipe.name, until: `multi-user: ${booted.state}`, seconds: Math.round(booted.seconds), files })
  process.stderr.write(`# ${booted.node.hostname}: read set of its image root, ${written.files} files with ${written.bytes} bytes in memory, listed on the node: ${written.file}\n`)
  return written.files
}

/** The recipe built again with one argument more on its node's command line: a new build of the same tree (its image made again, in the read set's order). */
async function buildAgain(published: PublishedBuild): Promise<void> {
  const started = performance.now()
  const input = { ...published.input, nodes: published.input.nodes.map((node) => ({ ...node, cmdline: [...(node.cmdline ?? []), 'pibake.rebuilt=1'] })) }
  await build(validateRecipe(input, join(published.dir, 'recipe.ts'), { outDir: published.out }), { outDir: published.out })
  const id = (await readlink(join(published.recipeDir, 'current'))).replace(/^builds\//, '')
  if (id === published.id) throw new Error(`${published.recipe.name}: building again with another command line made no new build (${id})`)
  process.stderr.write(`# ${published.recipe.name}: built again, build ${id} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`)
}

async function forgetReadSets(builds: string): Promise<void> {
  for (const name of await readdir(builds).catch(() => [] as string[])) if (name.endsWith('.reads.json')) await rm(join(builds, name))
}

/** Stops the NFS server, then asks every node at once: a `ram` node to run, answer and write; an `nfs` node the same, bounded, to show its hang. */
async function withoutServer(nfs: NfsServer, nodes: readonly { mode: RootMode; booted: Booted; key: string }[]): Promise<(Map<string, string> | undefined)[]> {
  await nfs.stop()
  return Promise.all(nodes.map(async ({ mode, booted, key }) => {
    if (mode === 'ram') return sections((await guestSsh(booted.guest, key, SERVERLESS_PROBE, { timeoutS: 120 })).stdout)
    if (mode !== 'nfs') return undefined
    const started = performance.now()
    // `timeout` on this side ends SSH when the session hangs (exit 124); 255 is SSH giving up on its own
    // (its ConnectTimeout, 10 s, bounds the banner exchange: sshd's child is stuck loading from NFS).
    const hung = await guestSsh(booted.guest, key, HANG_PROBE, { timeoutS: HANG_S, okCodes: [124, 255] })
    const seconds = (performance.now() - started) / 1000
    process.stderr.write(`# roots nfs node without its server: exit ${hung.exitCode} after ${seconds.toFixed(0)} s; ${JSON.stringify(hung.stdout)} ${JSON.stringify(hung.stderr)}\n`)
    return new Map([...sections(hung.stdout), ['ssh', String(hung.exitCode)], ['ssh-error', hung.stderr.trim()], ['seconds', seconds.toFixed(0)]])
  }))
}

/** What the LAN's bridge sent to the node's tap device since it was made. */
async function tapBytes(lan: TestLan, node: Node): Promise<number> {
  const { stdout } = await exec(['ip', '-n', lan.lanNs, '-s', '-j', 'link', 'show', 'dev', `tap-${node.hostname}`])
  const [link] = JSON.parse(stdout) as { stats64?: { tx?: { bytes?: number } } }[]
  return link?.stats64?.tx?.bytes ?? Number.NaN
}

/** `MemTotal` and `MemAvailable` in kB, one a line → bytes in use. */
function memoryUsed(text: string): number {
  const [total = Number.NaN, available = Number.NaN] = text.split('\n').map(Number)
  return (total - available) * 1024
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
