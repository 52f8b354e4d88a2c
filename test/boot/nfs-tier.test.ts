/**
 * The NFS tier, booted: the demo image built with two NFS servers (`netboot.nfs` a list; the build
 * published to both), served on a test LAN by the site's published `dnsmasq.conf` and each
 * server's own published `ganesha.conf` (two nfs-ganesha servers, 10.77.0.2 and 10.77.0.3, each in
 * its namespace). One node is assigned to each: both boot at once, each with its root from its own
 * server. Then the second server is drained (`pibake drain`) and stopped, the first reloads its
 * exports as published, and the node of the second reboots onto the first and runs.
 *
 * The tier build also shrinks the boot files (`netboot.shrinkBoot`): the nodes boot a gzip kernel
 * and an xz initramfs, the same Image and cpio as the demo build's once unpacked. QEMU's `-kernel`
 * unpacks a gzip arm64 Image as the Raspberry Pi firmware does (hw/arm/boot.c, load_aarch64_image:
 * "On aarch64, it's the bootloader's job to uncompress the kernel", load_image_gzipped_buffer, in
 * QEMU 7.2 as here); the xz initramfs is unpacked by the kernel itself, as on a Pi.
 */
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import type { Node } from '../../src/recipe/types.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'
import { bytesPerBoot, folderTree } from '../../src/shrink/per-boot.ts'
import { drain } from '../../src/site/drain.ts'
import { exec } from '../../src/system/exec.ts'
import { openSite, readRecord } from '../../src/site/store.ts'
import { startDnsmasq } from '../helpers/dnsmasq.ts'
import { mountAt } from '../helpers/guest-facts.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { TestLan } from '../helpers/netns.ts'
import { startNfsServer, type NfsServer } from '../helpers/nfs-server.ts'
import { FLEET, publishDemoBuild, type PublishedBuild } from './published.ts'
import { bootNode, checkRunning, CONSOLE_ARG, publishedCmdline, type Booted } from './site.ts'

/** From QEMU starting to sshd letting root in: a limit, not a benchmark (two guests boot at once on a loaded 2-core machine). */
const BOOT_TIMEOUT_MS = 900_000
const A = FLEET.nfsServer
const B = '10.77.0.3'

let published: PublishedBuild
let lan: TestLan
const servers = new Map<string, NfsServer>()
const booted = new Map<string, Booted>()
/** boot-a's kernel and initramfs as the demo build published them, and the bytes it pulled per boot then. */
let before: { kernel: Buffer; initramfs: Buffer; perBoot: number }
const started = performance.now()
/** Each server's folder, where publish wrote its trees and its ganesha.conf. */
const folder = (server: string) => join(published.out, 'publish', server === A ? 'nfs' : 'nfs-b')

test.before(async () => {
  try {
    // The demo build as the other boot tests make it; then the same recipe with two NFS servers.
    published = await publishDemoBuild('nfs-tier')
    const input = structuredClone(published.input)
    input.netboot.nfs = [{ server: A }, { server: B }]
    input.publish = [{ nfs: [folder(A), folder(B)], tftp: published.tftp, config: published.publish }]
    input.netboot.shrinkBoot = true
    const files = published.tftpDir(spec('boot-a'))
    before = { kernel: readFileSync(join(files, 'kernel8.img')), initramfs: readFileSync(join(files, 'initramfs8')), perBoot: (await bytesPerBoot(folderTree(files), '4B')).bytes }
    const recipe = validateRecipe(input, join(published.dir, 'recipe.ts'), { outDir: published.out })
    const seconds = performance.now()
    await build(recipe, { outDir: published.out })
    process.stderr.write(`# demo build ${published.seconds.build.toFixed(0)} s, the tier build (published to both servers) ${((performance.now() - seconds) / 1000).toFixed(0)} s\n`)
    lan = new TestLan()
    await lan.setup([{ name: 'srv', address: `${FLEET.server}/24` }, { name: 'nfs', address: `${A}/24` }, { name: 'nfs2', address: `${B}/24` }])
    await startDnsmasq(lan, 'srv', join(published.publish, 'dnsmasq.conf'), await mkdtemp(join(published.dir, 'dnsmasq-')))
    for (const server of [A, B]) await serveNfs(server)
  } catch (error) {
    process.stderr.write(`nfs-tier test setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  }
})

test.after(async () => {
  try {
    for (const { guest } of booted.values()) await guest.stop()
    for (const server of servers.values()) await server.stop()
    await lan?.close()
  } finally {
    const left = published ? await leftBehind(published.dir) : []
    await published?.remove()
    assert.equal(left, [], 'no loop device or mount is left behind')
    process.stderr.write(`# nfs-tier test file: ${((performance.now() - started) / 1000).toFixed(0)} s in all\n`)
  }
})

/** nfs-ganesha on `server`'s host, serving the ganesha.conf publish wrote into that server's folder. */
async function serveNfs(server: string): Promise<void> {
  await servers.get(server)?.stop()
  const exports = readFileSync(join(folder(server), 'ganesha.conf'), 'utf8')
  servers.set(server, await startNfsServer(lan.ns(server === A ? 'nfs' : 'nfs2'), { dir: await mkdtemp(join(published.dir, 'ganesha-')), exports }))
}

function spec(name: string): Node {
  const node = published.recipe.nodes.find((n) => n.hostname === name)
  assert.ok(node?.ip, `${name} is in the recipe with an address`)
  return node
}

async function boot(name: string, round: number): Promise<Booted> {
  const node = spec(name)
  const result = await bootNode({ published, lan }, node, node.ip ?? '', round, BOOT_TIMEOUT_MS)
  booted.set(name, result)
  return result
}

/** The node runs its published cmdline.txt, its root the live build from `server`. */
async function checkOn(on: Booted, server: string): Promise<void> {
  const id = (await readRecord(openSite({ kind: 'local', path: published.publish }), 'nfs-tier'))!.live!
  assert.is(on.facts.cmdline, `${publishedCmdline(published, on.node)} ${CONSOLE_ARG}`)
  assert.match(on.facts.cmdline, `nfsroot=${server}:${folder(server)}/nfs-tier/builds/${id},vers=3`)
  const root = mountAt(on.facts, '/')
  assert.is(root.type, 'nfs', '/ is NFS')
  assert.is(root.device, `${server}:${folder(server)}/nfs-tier/builds/${id}`, `${on.node.hostname}'s root is the live build from ${server}`)
  checkRunning(published, on, on.node.ip ?? '')
}

test('the tier build publishes its boot files shrunk: a gzip kernel, an xz initramfs, the same once unpacked', async () => {
  const files = published.tftpDir(spec('boot-a'))
  const kernel = readFileSync(join(files, 'kernel8.img'))
  const initramfs = readFileSync(join(files, 'initramfs8'))
  assert.equal([...kernel.subarray(0, 2)], [0x1f, 0x8b], 'the kernel boot-a fetches over TFTP is gzip')
  assert.equal([...initramfs.subarray(0, 6)], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'its initramfs is xz')
  assert.ok(gunzipSync(kernel).equals(before.kernel), 'unpacked, the kernel is the demo build\'s Image')
  const unpacked = await exec(['sh', '-c', 'xz --decompress --stdout "$1" | sha256sum', 'sh', join(files, 'initramfs8')])
  assert.is(unpacked.stdout.split(' ')[0], createHash('sha256').update(gunzipSync(before.initramfs)).digest('hex'), 'unpacked, the initramfs is the demo build\'s cpio')
  const after = await bytesPerBoot(folderTree(files), '4B')
  assert.ok(after.bytes < before.perBoot, `${after.bytes} bytes per boot, fewer than ${before.perBoot}`)
  process.stderr.write(`# boot-a (a Pi 4B) pulls ${after.bytes} bytes per boot over TFTP, ${before.perBoot} before shrinking (kernel8.img ${before.kernel.length} → ${kernel.length}, initramfs8 ${before.initramfs.length} → ${initramfs.length})\n`)
})

test('one node on each NFS server: both boot at once, each with its root from its own server', async () => {
  const record = (await readRecord(openSite({ kind: 'local', path: published.publish }), 'nfs-tier'))!
  assert.equal(record.nodes.map((n) => [n.hostname, n.nfs]), [['boot-a', A], ['boot-b', B]], 'balanced: one node each')
  const [a, b] = await Promise.all([boot('boot-a', 1), boot('boot-b', 1)])
  await checkOn(a!, A)
  await checkOn(b!, B)
  await a!.guest.stop()
  booted.delete('boot-a')
})

test("the second server drained and stopped: its node reboots onto the first and runs", async () => {
  await booted.get('boot-b')?.guest.stop()
  booted.delete('boot-b')
  const result = await drain(openSite({ kind: 'local', path: published.publish }), B)
  assert.equal(result.moved.map((m) => [m.hostname, m.to]), [['boot-b', A]])
  await servers.get(B)!.stop()
  servers.delete(B)
  // The first server serves its exports as the drain rewrote them (boot-b's identity folder too).
  assert.match(readFileSync(join(folder(A), 'ganesha.conf'), 'utf8'), `nfs-tier/nodes/${spec('boot-b').mac.replaceAll(':', '-')}`)
  await serveNfs(A)
  await checkOn(await boot('boot-b', 2), A)
})

test.run()
