/**
 * One target, several fleets: an arm64 and an armhf recipe (tiny images) published to the same
 * site. The server configuration serves both (proved with the real dnsmasq in a test namespace), a
 * conflicting recipe is refused with the site byte for byte unchanged, --take moves a node,
 * rollback and unpublish switch links and config, gc keeps what a node may still run.
 */
import { chmod, readFile, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import { SiteConflictError } from '../../src/errors.ts'
import { localFiles } from '../../src/publish/files.ts'
import type { NodeInput, RecipeInput } from '../../src/recipe/types.ts'
import { gc, rollback, unpublish } from '../../src/site/ops.ts'
import { openSite, readRecord, readSite } from '../../src/site/store.ts'
import { siteStatus } from '../../src/site/status.ts'
import { diffSnapshots, takeSnapshot } from '../../src/snapshot/index.ts'
import { startDnsmasq } from '../helpers/dnsmasq.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { withLan } from '../helpers/netns.ts'
import { piDhcp, tftpGet } from '../helpers/pi-client.ts'
import { makeProject, type Project } from '../helpers/project.ts'

const SERVER = '10.78.0.1'
let arm64: Project
let armhf: Project
let publishDir: string
const site = () => openSite({ kind: 'local', path: publishDir })

/** A recipe of either project, published to the one site under arm64's out/publish. */
function recipe(project: Project, name: string, nodes: RecipeInput['nodes'], change?: (input: RecipeInput) => void) {
  return project.recipe((input) => {
    input.name = name
    input.netboot = { server: SERVER, dhcp: { mode: 'range', start: '10.78.0.100', end: '10.78.0.150' }, nfs: { server: '10.78.0.2', path: join(publishDir, 'nfs') } }
    input.nodes = nodes
    input.publish = [{ nfs: join(publishDir, 'nfs'), tftp: join(publishDir, 'tftp'), config: publishDir }]
    change?.(input)
  })
}

const w1: NodeInput = { hostname: 'w1', mac: 'dc:a6:32:00:01:01', ip: '10.78.0.11', model: '4B', serial: '10000000aaaa0001' }
const w2: NodeInput = { hostname: 'w2', mac: 'dc:a6:32:00:01:02', ip: '10.78.0.12', model: '4B' }
const desk1: NodeInput = { hostname: 'desk1', mac: 'b8:27:eb:00:02:01', ip: '10.78.0.21', model: '3B+' }
const workers = [w1, w2]
const desks = [desk1]

async function publish(project: Project, ...args: Parameters<typeof recipe> extends [Project, ...infer R] ? R : never): Promise<void> {
  await build(recipe(project, ...args), { outDir: project.out })
}

const read = (path: string) => readFile(join(publishDir, path), 'utf8')
const linkOf = (mac: string) => readlink(join(publishDir, 'tftp', mac.replaceAll(':', '-')))

/** The recipe whose `# name:` header is the last one before the line naming `mac` in dnsmasq.conf. */
function sectionOf(conf: string, mac: string): string | undefined {
  let section: string | undefined
  for (const line of conf.split('\n')) {
    section = /^# ([\w-]+): /.exec(line)?.[1] ?? section
    if (line.startsWith(`dhcp-host=${mac},`)) return section
  }
  return undefined
}

test.before(async () => {
  arm64 = await makeProject({ arch: 'arm64' })
  armhf = await makeProject({ arch: 'armhf' })
  publishDir = join(arm64.out, 'publish')
  // dnsmasq runs as user dnsmasq: the TFTP tree must be reachable.
  await chmod(arm64.dir, 0o755)
})
test.after(async () => {
  const left = [...(await leftBehind(arm64.dir)), ...(await leftBehind(armhf.dir))]
  await arm64.remove()
  await armhf.remove()
  assert.equal(left, [], 'no loop device or mount is left')
})

test('two recipes published to one target: the server configuration serves both fleets', async () => {
  await publish(arm64, 'workers', workers)
  await publish(armhf, 'desks', desks)
  const dnsmasq = await read('dnsmasq.conf')
  for (const node of [...workers, ...desks]) assert.match(dnsmasq, `dhcp-host=${node.mac},set:pibake,${node.ip},${node.hostname}`)
  const exports = await read('exports')
  for (const name of ['workers', 'desks']) assert.match(exports, `${join(publishDir, 'nfs', name, 'builds')} `)
  assert.match(exports, `${join(publishDir, 'nfs/workers/nodes/dc-a6-32-00-01-01')} 10.78.0.11(ro,`, 'a node folder is exported to that node alone')
  assert.match(await read('ganesha.conf'), `Path = "${join(publishDir, 'nfs/desks/builds')}"`)
  assert.match(await read('hosts'), /10\.78\.0\.21 +desk1\n10\.78\.0\.11 +w1\n10\.78\.0\.12 +w2/)
  const view = await siteStatus(site())
  assert.equal(view.recipes.map((r) => r.recipe), ['desks', 'workers'])
  for (const r of view.recipes) {
    assert.ok(r.live)
    assert.equal(r.nodes.map((n) => n.boots), r.nodes.map(() => ({ recipe: r.recipe, build: r.live })), 'each node boots its recipe\'s live build')
    assert.ok(r.builds[0]!.bytes! > 0)
  }
  // What a worker (Pi 4B) pulls per boot, as dnsmasq.conf's tftp-max is sized: the tiny image's
  // kernel8.img (8192 bytes) is its largest file; start4.elf, fixup4.dat, the dtb, kernel8.img and
  // initramfs8 make 18,432 bytes, config.txt twice and its own cmdline.txt a few hundred more.
  const workersRecord = (await readSite(site())).find((r) => r.recipe === 'workers')
  assert.is(workersRecord?.boot?.largestFile, 8192, JSON.stringify(workersRecord?.boot))
  const perNode = workersRecord?.boot?.bytesPerNode ?? 0
  assert.ok(perNode > 18_432 && perNode < 18_432 + 1024, `bytes per node per boot: ${perNode}`)
})

test('the real dnsmasq gives a node of each fleet its own address, host name and boot files', async () => {
  await withLan([{ name: 'srv', address: `${SERVER}/24` }, { name: 'cli' }], async (lan) => {
    const server = await startDnsmasq(lan, 'srv', join(publishDir, 'dnsmasq.conf'), arm64.dir)
    for (const [node, name] of [[w1, 'workers'], [desk1, 'desks']] as const) {
      await lan.run('cli', ['ip', 'addr', 'flush', 'dev', 'eth0'])
      const lease = await piDhcp(lan, 'cli', arm64.dir, node.mac)
      assert.ok(lease, `${node.hostname} got an answer:\n${server.log()}`)
      assert.is(lease.ip, node.ip)
      assert.is(lease.hostname, node.hostname)
      const cmdline = (await tftpGet(lan, 'cli', arm64.dir, SERVER, 'cmdline.txt')).toString()
      assert.match(cmdline, `nfsroot=10.78.0.2:${join(publishDir, 'nfs', name, 'builds')}/`)
    }
  })
})

test('a recipe naming another recipe\'s node is refused before anything is copied; the site is unchanged', async () => {
  const before = await takeSnapshot(publishDir)
  const thief = recipe(armhf, 'thief', [{ ...w2, hostname: 'other' }])
  const error = await build(thief, { outDir: armhf.out }).catch((e: unknown) => e)
  assert.instance(error, SiteConflictError)
  assert.match((error as Error).message, 'node other has mac dc:a6:32:00:01:02, which the recipe "workers" already gives its node w2')
  assert.match((error as Error).message, 'ip 10.78.0.12')
  const serial = recipe(armhf, 'thief', [{ hostname: 'other', mac: 'dc:a6:32:00:09:09', ip: '10.78.0.99', model: '4B', serial: 'aaaa0001' }])
  assert.match(String(await build(serial, { outDir: armhf.out }).catch((e: unknown) => e)), 'serial aaaa0001 (TFTP prefix aaaa0001), which the recipe "workers" already gives its node w1')
  const range = recipe(armhf, 'thief', [{ hostname: 'other', mac: 'dc:a6:32:00:09:09', ip: '10.78.0.99', model: '4B' }], (i) => {
    i.netboot.dhcp = { mode: 'range', start: '10.78.0.160', end: '10.78.0.170' }
  })
  assert.match(String(await build(range, { outDir: armhf.out }).catch((e: unknown) => e)), /netboot\.dhcp differs: thief has .*160.*, the recipe "(desks|workers)" at the same site has/)
  const diff = diffSnapshots(before, await takeSnapshot(publishDir))
  assert.equal([diff.added, diff.removed, diff.changed], [[], [], []], 'nothing changed on the site')
})

test('--take moves a node to another recipe: links, records, config and identity follow', async () => {
  await build(recipe(armhf, 'desks', [...desks, w2]), { outDir: armhf.out, take: true })
  const desksRecord = await readRecord(site(), 'desks')
  assert.equal((await readRecord(site(), 'workers'))!.nodes.map((n) => n.hostname), ['w1'])
  assert.equal(desksRecord!.nodes.map((n) => n.hostname), ['desk1', 'w2'])
  assert.is(await linkOf(w2.mac), `builds/desks/${desksRecord!.live}/dc-a6-32-00-01-02`)
  const dnsmasq = await read('dnsmasq.conf')
  assert.is(sectionOf(dnsmasq, w2.mac), 'desks', 'w2 is listed with desks')
  assert.is(sectionOf(dnsmasq, w1.mac), 'workers', 'w1 stays with workers')
  assert.is(dnsmasq.split('dc:a6:32:00:01:02').length, 2, 'once')
  assert.not.match(await read('exports'), 'nfs/workers/nodes/dc-a6-32-00-01-02')
  // Moving it back the plain way: out of desks first, then into workers.
  await publish(armhf, 'desks', desks)
  await publish(arm64, 'workers', workers)
  assert.match(await linkOf(w2.mac), /^builds\/workers\//)
})

test('rollback switches current and every node back; the site shows which build each node boots', async () => {
  const first = (await readRecord(site(), 'workers'))!.live!
  await arm64.write('etc/motd', 'second build\n')
  await publish(arm64, 'workers', workers)
  const second = (await readRecord(site(), 'workers'))!.live!
  assert.is.not(second, first)
  const result = await rollback(site(), 'workers')
  assert.equal([result.from, result.to], [second, first])
  assert.is(await readlink(join(publishDir, 'nfs/workers/current')), `builds/${first}`)
  for (const node of workers) assert.is(await linkOf(node.mac), `builds/workers/${first}/${node.mac.replaceAll(':', '-')}`)
  const view = (await siteStatus(site())).recipes.find((r) => r.recipe === 'workers')!
  assert.equal(view.builds.map((b) => [b.id, b.live]), [[first, true], [second, false]])
  assert.match(view.builds[1]!.retention, /kept: live until/)
  await rollback(site(), 'workers', second)
  assert.is(await linkOf(w1.mac), `builds/workers/${second}/dc-a6-32-00-01-01`)
})

test('gc keeps every build that was live within the window, and says why', async () => {
  const builds = (await readRecord(site(), 'workers'))!.builds.map((b) => b.id)
  assert.is(builds.length, 2, 'the live build and the one live until a moment ago')
  const kept = await gc(site(), { recipe: 'workers', keep: { builds: 1 } })
  assert.equal(kept[0]!.removed, [], 'the build live until a moment ago stays: a node may still run it')
  assert.equal(kept[0]!.kept.map((k) => k.id).sort(), [...builds].sort(), 'gc says it keeps both')
  assert.ok(kept[0]!.kept.every((k) => /live/.test(k.why)), kept[0]!.kept.map((k) => `${k.id}: ${k.why}`).join('\n'))
  const later = new Date(Date.now() + 30 * 24 * 3600 * 1000)
  const dry = await gc(site(), { recipe: 'workers', keep: { builds: 1 }, dryRun: true, now: later })
  assert.is(dry[0]!.removed.length, 1)
  const [removed] = dry[0]!.removed
  assert.ok(await localFiles().exists(join(publishDir, 'nfs/workers/builds', removed!.id)), 'a dry run removes nothing')
  await gc(site(), { recipe: 'workers', keep: { builds: 1 }, now: later })
  assert.not.ok(await localFiles().exists(join(publishDir, 'nfs/workers/builds', removed!.id)))
  assert.not.ok(await localFiles().exists(join(publishDir, 'tftp/builds/workers', removed!.id)))
  assert.equal((await readRecord(site(), 'workers'))!.builds.map((b) => b.id), [(await readRecord(site(), 'workers'))!.live])
})

test('unpublish takes a recipe off the site and leaves the other fleet intact', async () => {
  const workersLive = (await readRecord(site(), 'workers'))!.live
  const result = await unpublish(site(), 'desks')
  assert.equal([...result.configChanged].sort(), ['dnsmasq.conf', 'exports', 'ganesha.conf', 'hosts'])
  const dnsmasq = await read('dnsmasq.conf')
  assert.not.match(dnsmasq, desk1.mac)
  assert.match(dnsmasq, w1.mac)
  assert.not.ok(await localFiles().exists(join(publishDir, 'nfs/desks')))
  assert.not.ok(await localFiles().exists(join(publishDir, 'tftp/builds/desks')))
  assert.not.ok(await localFiles().exists(join(publishDir, 'tftp', desk1.mac.replaceAll(':', '-'))))
  assert.is(await linkOf(w1.mac), `builds/workers/${workersLive}/dc-a6-32-00-01-01`)
  assert.equal((await siteStatus(site())).recipes.map((r) => r.recipe), ['workers'])
})

test.run()
