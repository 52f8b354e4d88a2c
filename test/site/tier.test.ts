/**
 * The NFS tier on published trees (a tiny image, no boot): a recipe with two NFS servers is
 * published to both; each node is assigned one (a pin kept, the rest balanced), its TFTP link boots
 * its folder for that server, whose cmdline.txt names it; each server's exports list its nodes. A
 * server that fails leaves the last build live everywhere. Drain moves a server's nodes (one rename
 * each), refusing an unknown server, a pinned node and the last server; a drained server gets no
 * build and no node; undrain brings it back, --rebalance evens the counts.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chmod, readFile, readlink } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import { PibakeError } from '../../src/errors.ts'
import type { NodeInput, RecipeInput } from '../../src/recipe/types.ts'
import { drain, undrain } from '../../src/site/drain.ts'
import { gc, unpublish } from '../../src/site/ops.ts'
import { siteStatus } from '../../src/site/status.ts'
import { openSite, readRecord } from '../../src/site/store.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { makeProject, type Project } from '../helpers/project.ts'

const CLI = join(import.meta.dirname, '../../src/cli.ts')
/** This checkout's command line: its status, what it printed. */
const cli = (...args: string[]) => spawnSync(process.execPath, ['--conditions=pibake-source', CLI, ...args], { encoding: 'utf8' })

const A = '10.79.0.2'
const B = '10.79.0.3'
let project: Project
let publishDir: string
const site = () => openSite({ kind: 'local', path: publishDir })
const nfsDir = (server: string) => join(publishDir, `nfs-${server === A ? 'a' : 'b'}`)

const w1: NodeInput = { hostname: 'w1', mac: 'dc:a6:32:00:07:01', ip: '10.79.0.11', model: '4B' }
const w2: NodeInput = { hostname: 'w2', mac: 'dc:a6:32:00:07:02', ip: '10.79.0.12', model: '4B' }
const w3: NodeInput = { hostname: 'w3', mac: 'dc:a6:32:00:07:03', ip: '10.79.0.13', model: '4B' }
const w4: NodeInput = { hostname: 'w4', mac: 'dc:a6:32:00:07:04', ip: '10.79.0.14', model: '4B', nfs: A }
const w5: NodeInput = { hostname: 'w5', mac: 'dc:a6:32:00:07:05', ip: '10.79.0.15', model: '4B' }

function recipe(nodes: NodeInput[], change?: (input: RecipeInput) => void) {
  return project.recipe((input) => {
    input.name = 'tier'
    input.netboot = { server: '10.79.0.1', dhcp: { mode: 'range', start: '10.79.0.100', end: '10.79.0.150' }, nfs: [{ server: A, path: '/srv/a' }, { server: B, path: '/srv/b' }], persist: ['/var/lib/keep'] }
    input.nodes = nodes
    input.publish = [{ nfs: [nfsDir(A), nfsDir(B)], tftp: join(publishDir, 'tftp'), config: publishDir }]
    change?.(input)
  })
}

const publish = (nodes: NodeInput[]) => build(recipe(nodes), { outDir: project.out })
const linkOf = (node: NodeInput) => readlink(join(publishDir, 'tftp', node.mac.replaceAll(':', '-')))
const cmdlineOf = (node: NodeInput) => readFile(join(publishDir, 'tftp', node.mac.replaceAll(':', '-'), 'cmdline.txt'), 'utf8')
const read = (path: string) => readFile(path, 'utf8')
const serversOf = async () => Object.fromEntries((await readRecord(site(), 'tier'))!.nodes.map((n) => [n.hostname, n.nfs]))
const current = (server: string) => readlink(join(nfsDir(server), 'tier', 'current'))

async function refused(promise: Promise<unknown>, message: RegExp): Promise<PibakeError> {
  const error = await promise.then(() => undefined, (e: unknown) => e)
  assert.instance(error, PibakeError)
  assert.match((error as Error).message, message)
  return error as PibakeError
}

test.before(async () => {
  project = await makeProject({ arch: 'arm64' })
  publishDir = join(project.out, 'publish')
  await project.write('var/lib/keep/seed', 'seed\n')
  // netboot.persist wants the image's NFS client: the tiny image gets a stand-in.
  await project.write('usr/sbin/mount.nfs', '#!/bin/sh\n', 0o755)
  await chmod(project.dir, 0o755)
})
test.after(async () => {
  const left = await leftBehind(project.dir)
  await project.remove()
  assert.equal(left, [], 'no loop device or mount is left')
})

test('a build goes to both servers; each node boots its server (a pin kept, the rest balanced); each server exports its nodes', async () => {
  await publish([w1, w2, w3, w4])
  assert.equal(await serversOf(), { w1: B, w2: A, w3: B, w4: A })
  const record = (await readRecord(site(), 'tier'))!
  const id = record.live!
  assert.equal(record.builds.find((b) => b.id === id)!.servers, [A, B])
  for (const server of [A, B]) assert.is(await current(server), `builds/${id}`)
  for (const [node, server, path] of [[w1, B, '/srv/b'], [w2, A, '/srv/a']] as const) {
    assert.is(await linkOf(node), `builds/tier/${id}/${node.mac.replaceAll(':', '-')}@${server}`)
    assert.match(await cmdlineOf(node), ` nfsroot=${server}:${path}/tier/builds/${id},vers=3`)
    assert.match(await cmdlineOf(node), ` pibake.nfs=${server}:${path} `, 'what the persisted folders are mounted from')
    assert.ok(existsSync(join(nfsDir(server), 'tier', 'nodes', node.mac.replaceAll(':', '-'))), 'its identity is on its server')
  }
  const exportsB = await read(join(nfsDir(B), 'exports'))
  assert.is(exportsB, await read(join(publishDir, 'nfs', B, 'exports')), "the server's own copy is the site's")
  assert.match(exportsB, '/srv/b/tier/nodes/dc-a6-32-00-07-01 10.79.0.11(ro')
  assert.match(exportsB, '/srv/b/_persist/dc-a6-32-00-07-03 10.79.0.13(rw')
  assert.not.match(exportsB, 'dc-a6-32-00-07-02')
  assert.match(await read(join(nfsDir(A), 'ganesha.conf')), 'Path = "/srv/a/tier/nodes/dc-a6-32-00-07-04"')
  const view = await siteStatus(site())
  assert.equal(view.nfsServers!.map((s) => [s.server, s.drained, s.nodes.map((n) => n.hostname)]), [[A, false, ['w2', 'w4']], [B, false, ['w1', 'w3']]])
  const shown = cli('site', '--target', publishDir)
  assert.is(shown.status, 0, shown.stderr)
  assert.match(shown.stdout, /NFS servers\n\s+SERVER\s+STATE\s+NODES\s+WHICH\n\s+10\.79\.0\.2\s+serving\s+2\s+w2, w4 \(pinned\)\n\s+10\.79\.0\.3\s+serving\s+2\s+w1, w3\n/)
})

test('a server that fails leaves the last build live everywhere, and its new tree on the others is taken away', async () => {
  const before = (await readRecord(site(), 'tier'))!
  const links = await Promise.all([w1, w2].map(linkOf))
  await project.write('etc/motd', 'second build\n')
  const builds = join(nfsDir(B), 'tier', 'builds')
  // A read-only bind over server B's builds: its tree cannot be written (we run in a private mount namespace).
  execFileSync('mount', ['--bind', builds, builds])
  execFileSync('mount', ['-o', 'remount,ro,bind', builds])
  try {
    const error = await build(recipe([w1, w2, w3, w4]), { outDir: project.out }).then(() => undefined, (e: unknown) => e)
    assert.match(String((error as Error)?.message), /could not be published to every NFS server, so no node was switched to it: 10\.79\.0\.3: /)
  } finally {
    execFileSync('umount', [builds])
  }
  const after = (await readRecord(site(), 'tier'))!
  assert.is(after.live, before.live)
  assert.equal(await Promise.all([w1, w2].map(linkOf)), links)
  for (const server of [A, B]) assert.is(await current(server), `builds/${before.live}`)
  const onA = execFileSync('ls', [join(nfsDir(A), 'tier', 'builds')], { encoding: 'utf8' }).split('\n').filter((n) => /^\d{8}-\d{6}-[0-9a-f]{8}$/.test(n))
  assert.equal(onA, [before.live], 'the new tree on A went away again')
})

test('drain refuses an unknown server and one a node is pinned to; draining B moves its nodes to A, one link each', async () => {
  await publish([w1, w2, w3, w4])
  await refused(drain(site(), '10.79.0.9'), /"10\.79\.0\.9" is not one of the site's NFS servers/)
  const unknown = cli('drain', '10.79.0.9', '--target', publishDir)
  assert.is(unknown.status, 1)
  assert.match(unknown.stderr, `its servers: ${A}, ${B}`)
  const pinned = await refused(drain(site(), A), /cannot drain 10\.79\.0\.2: the recipe pins w4 \(tier\) to it/)
  assert.match(pinned.hint ?? '', 'nodes[].nfs')
  const id = (await readRecord(site(), 'tier'))!.live!
  const result = await drain(site(), B)
  assert.equal(result.moved.map((m) => [m.hostname, m.from, m.to, m.build]), [['w1', B, A, id], ['w3', B, A, id]])
  assert.equal(await serversOf(), { w1: A, w2: A, w3: A, w4: A })
  assert.is(await linkOf(w1), `builds/tier/${id}/dc-a6-32-00-07-01@${A}`)
  assert.match(await cmdlineOf(w3), ` nfsroot=${A}:/srv/a/tier/builds/${id},vers=3`)
  assert.match(await read(join(nfsDir(A), 'exports')), '/srv/a/tier/nodes/dc-a6-32-00-07-03 10.79.0.13(ro')
  assert.not.match(await read(join(publishDir, 'nfs', B, 'exports')), 'nodes/dc-a6')
  assert.equal((await siteStatus(site())).nfsServers!.map((s) => [s.server, s.drained, s.nodes.length]), [[A, false, 4], [B, true, 0]])
  await refused(drain(site(), A), /10\.79\.0\.2 is the last NFS server of the site that is not drained/)
  await refused(drain(site(), B), /already drained/)
})

test('a drained server gets no build and no node; undrain brings it back, --rebalance evens the counts', async () => {
  await project.write('etc/motd', 'third build\n')
  await publish([w1, w2, w3, w4, w5])
  const record = (await readRecord(site(), 'tier'))!
  assert.equal(record.builds.find((b) => b.id === record.live)!.servers, [A])
  assert.is(await current(A), `builds/${record.live}`)
  assert.is.not(await current(B), `builds/${record.live}`, "the drained server's tree is left as it was")
  assert.is((await serversOf()).w5, A)
  const back = await undrain(site(), B)
  assert.equal(back.moved, [])
  assert.equal((await siteStatus(site())).nfsServers!.map((s) => [s.server, s.drained, s.nodes.length]), [[A, false, 5], [B, false, 0]])
  await refused(undrain(site(), B, { rebalance: true }), /w\d \(tier\) cannot move to 10\.79\.0\.3: the build it boots is not on that server/)
  await project.write('etc/motd', 'fourth build\n')
  await publish([w1, w2, w3, w4, w5])
  const id = (await readRecord(site(), 'tier'))!.live!
  const even = await undrain(site(), B, { rebalance: true })
  assert.equal(even.moved.map((m) => [m.hostname, m.to]), [['w1', B], ['w2', B]])
  assert.is(await linkOf(w2), `builds/tier/${id}/dc-a6-32-00-07-02@${B}`)
  assert.equal(await serversOf(), { w1: B, w2: B, w3: A, w4: A, w5: A })
})

test('gc and unpublish act on every NFS server of the tier', async () => {
  const record = (await readRecord(site(), 'tier'))!
  const old = record.builds.filter((b) => b.id !== record.live).map((b) => b.id)
  assert.ok(old.length, 'older builds are there')
  await gc(site(), { keep: { builds: 1, days: 0 } })
  for (const server of [A, B]) for (const id of old) assert.not.ok(existsSync(join(nfsDir(server), 'tier', 'builds', id)), `${id} gone from ${server}`)
  assert.ok(existsSync(join(nfsDir(B), 'tier', 'builds', record.live!)))
  const result = await unpublish(site(), 'tier', { purgeNodeData: true })
  for (const server of [A, B]) {
    assert.not.ok(existsSync(join(nfsDir(server), 'tier')), `the recipe's folder is gone from ${server}`)
    assert.not.ok(existsSync(join(nfsDir(server), '_persist', 'dc-a6-32-00-07-01')), `the persisted folders are gone from ${server}`)
  }
  assert.equal(result.nodeData, ['dc-a6-32-00-07-01', 'dc-a6-32-00-07-02', 'dc-a6-32-00-07-03', 'dc-a6-32-00-07-04', 'dc-a6-32-00-07-05'])
})

test.run()
