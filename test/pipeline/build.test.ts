/** The whole pipeline on a tiny image: stages, cache, publish layout, cleanup. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile, readlink, readdir, stat, lstat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import { makeProject, type Project } from '../helpers/project.ts'
import { leftovers } from '../helpers/leftovers.ts'

let project: Project
const statuses = (events: BuildEvent[]) =>
  Object.fromEntries(events.flatMap((e) => (e.type === 'plan' ? e.stages.map((s) => [s.name, s.status]) : [])))

async function run(recipe = project.recipe()) {
  const events: BuildEvent[] = []
  await build(recipe, { outDir: project.out, onEvent: (e) => events.push(e) })
  assert.equal(await leftovers(project.dir), [], 'no loop device or mount is left after a build')
  return events
}

test.before(async () => {
  project = await makeProject()
  await project.write('etc/motd', 'hello from the overlay\n')
  await project.write('usr/local/bin/tool', '#!/bin/sh\necho tool\n', 0o755)
})
test.after(async () => {
  await project.remove()
})

test('a first build runs every stage and publishes the root, the boot files and the server config', async () => {
  const events = await run()
  assert.equal(statuses(events), { image: 'run', extract: 'run', overlay: 'run', customize: 'skipped', netboot: 'run', publish: 'run' })
  assert.equal(events.filter((e) => e.type === 'warning'), [], 'the 4B and the 5 find every boot file they need')
  const nfs = join(project.out, 'publish/nfs/test-node')
  const current = await readlink(join(nfs, 'current'))
  assert.match(current, /^builds\/\d{8}-\d{6}-[0-9a-f]{8}$/)
  const root = join(nfs, current)
  assert.is(await readFile(join(root, 'etc/motd'), 'utf8'), 'hello from the overlay\n')
  assert.is((await stat(join(root, 'usr/local/bin/tool'))).mode & 0o7777, 0o755)
  assert.is(await readFile(join(root, 'etc/machine-id'), 'utf8'), '')
  const fstab = await readFile(join(root, 'etc/fstab'), 'utf8')
  assert.not.match(fstab, 'PARTUUID=')
  assert.match(fstab, /^tmpfs\s+\/var\/log\s+tmpfs/m)
  assert.match(fstab, /^proc\s+\/proc/m)
})

test('each node has a MAC-named TFTP directory with its own cmdline.txt pointing at the build', async () => {
  const tftp = join(project.out, 'publish/tftp')
  const id = (await readlink(join(project.out, 'publish/nfs/test-node/current'))).split('/')[1]!
  assert.is(await readlink(join(tftp, 'dc-a6-32-00-00-01')), `builds/test-node/${id}/dc-a6-32-00-00-01`)
  const alpha = await readFile(join(tftp, 'dc-a6-32-00-00-01/cmdline.txt'), 'utf8')
  const nfsroot = `nfsroot=10.99.0.2:${join(project.out, 'publish/nfs')}/test-node/builds/${id},vers=3`
  assert.match(alpha, nfsroot)
  for (const arg of ['root=/dev/nfs', 'ip=dhcp', 'rootwait', ' ro']) assert.match(alpha, arg)
  for (const gone of ['PARTUUID', 'rootfstype', 'fsck.repair', 'init=']) assert.not.match(alpha, gone)
  const beta = await readFile(join(tftp, 'dc-a6-32-00-00-02/cmdline.txt'), 'utf8')
  assert.match(beta, /pibake\.test=1\n$/)
  assert.match(beta, 'quiet=0')
  assert.not.match(beta, / quiet /)
  assert.is(await readFile(join(tftp, 'dc-a6-32-00-00-02/start4.elf'), 'utf8'), '\x07'.repeat(4096))
  const files = await readdir(join(tftp, 'dc-a6-32-00-00-01'))
  assert.ok(files.includes('overlays') && files.includes('kernel8.img') && files.includes('config.txt'))
  const conf = await readFile(join(project.out, 'publish/dnsmasq.conf'), 'utf8')
  assert.match(conf, `tftp-root=${tftp}`)
  assert.match(conf, 'tftp-unique-root=mac')
  const exports = await readFile(join(project.out, 'publish/exports'), 'utf8')
  const served = `${join(project.out, 'publish/nfs')}/test-node`
  assert.match(exports, new RegExp(`^${served}/builds 10\\.99\\.0\\.0/24\\(ro,no_root_squash,no_subtree_check,fsid=\\d+\\)$`, 'm'))
  assert.match(exports, new RegExp(`^${served}/nodes/dc-a6-32-00-00-01 10\\.99\\.0\\.11\\(ro,`, 'm'), 'a node identity folder is exported to that node alone')
})

test('every node gets its own SSH host keys and hostname in <nfs>/<recipe>/nodes/<mac>/, and the image keeps none', async () => {
  const nodes = join(project.out, 'publish/nfs/test-node/nodes')
  const alpha = join(nodes, 'dc-a6-32-00-00-01')
  const beta = join(nodes, 'dc-a6-32-00-00-02')
  assert.is(await readFile(join(alpha, 'hostname'), 'utf8'), 'alpha\n')
  for (const type of ['ed25519', 'ecdsa']) {
    const key = await stat(join(alpha, `ssh_host_${type}_key`))
    assert.is(key.mode & 0o777, 0o600)
    assert.is(key.uid, 0)
  }
  assert.not.ok(existsSync(join(alpha, 'ssh_host_rsa_key')), 'no RSA key unless the recipe asks for one')
  assert.is.not(await readFile(join(alpha, 'ssh_host_ed25519_key.pub'), 'utf8'), await readFile(join(beta, 'ssh_host_ed25519_key.pub'), 'utf8'))
  assert.is((await stat(alpha)).mode & 0o777, 0o700)
  const root = join(project.out, 'publish/nfs/test-node/current')
  assert.match(await readFile(join(root, 'etc/systemd/system/pibake-identity.service'), 'utf8'), 'ExecStart=/usr/lib/pibake/identity')
})

test('a node whose model needs files the image lacks gets a warning naming them', async () => {
  const events: BuildEvent[] = []
  const recipe = project.recipe((r) => void r.nodes.push({ hostname: 'gamma', mac: 'b8:27:eb:00:00:03', ip: '10.99.0.13', model: '3B+' }))
  await build(recipe, { outDir: project.out, onEvent: (e) => events.push(e) })
  const warnings = events.flatMap((e) => (e.type === 'warning' ? [e.message] : []))
  assert.is(warnings.length, 1, warnings.join('\n'))
  assert.match(warnings[0]!, 'gamma (3B+) cannot boot from this image: it lacks b8-27-eb-00-00-03/bootcode.bin')
  await run()
})

test('building again re-runs nothing before publish, and publish copies nothing', async () => {
  const key = await readFile(join(project.out, 'publish/nfs/test-node/nodes/dc-a6-32-00-00-01/ssh_host_ed25519_key.pub'), 'utf8')
  const before = await readlink(join(project.out, 'publish/nfs/test-node/current'))
  const events = await run()
  assert.equal(statuses(events), { image: 'cached', extract: 'cached', overlay: 'cached', customize: 'skipped', netboot: 'cached', publish: 'run' })
  assert.ok(events.some((e) => e.type === 'info' && /already live/.test(e.message)))
  assert.is(await readlink(join(project.out, 'publish/nfs/test-node/current')), before)
  const again = await readFile(join(project.out, 'publish/nfs/test-node/nodes/dc-a6-32-00-00-01/ssh_host_ed25519_key.pub'), 'utf8')
  assert.is(again, key, 'a node keeps its host key across builds')
})

test('changing one overlay file re-runs the stages from overlay on, and says what changed', async () => {
  const nfsBuilds = join(project.out, 'publish/nfs/test-node/builds')
  const before = (await readdir(nfsBuilds)).filter((name) => !name.endsWith('.json')).length
  await project.write('etc/motd', 'changed\n')
  const events = await run()
  assert.equal(statuses(events), { image: 'cached', extract: 'cached', overlay: 'run', customize: 'skipped', netboot: 'run', publish: 'run' })
  const plan = events.find((e) => e.type === 'plan')
  assert.ok(plan?.type === 'plan' && /rootfs\.etc\/motd/.test(plan.stages.find((s) => s.name === 'overlay')!.reason), JSON.stringify(plan))
  const nfs = join(project.out, 'publish/nfs/test-node')
  const builds = (await readdir(join(nfs, 'builds'))).filter((name) => !name.endsWith('.json'))
  assert.is(builds.length, before + 1, 'every build that was live within the last 7 days stays: a node may still run it')
  const newer = (await readlink(join(nfs, 'current'))).split('/')[1]
  const older = builds.find((name) => name !== newer)
  assert.is(await readFile(join(nfs, 'builds', newer!, 'etc/motd'), 'utf8'), 'changed\n')
  assert.is(await readFile(join(nfs, 'builds', older!, 'etc/motd'), 'utf8'), 'hello from the overlay\n')
  const unchanged = 'usr/local/bin/tool'
  assert.is((await stat(join(nfs, 'builds', older!, unchanged))).ino, (await stat(join(nfs, 'builds', newer!, unchanged))).ino, 'unchanged files are hard-linked between builds')
})

test('an overlay writing through an image symlink to /etc stays inside the image', async () => {
  await project.write('opt/demo/etc-link/pibake-escape-test', 'inside\n')
  await project.write('opt/demo/etc-rel-link/pibake-escape-rel', 'inside\n')
  await run()
  const root = join(project.out, 'publish/nfs/test-node/current')
  assert.is(await readFile(join(root, 'etc/pibake-escape-test'), 'utf8'), 'inside\n')
  assert.is(await readFile(join(root, 'etc/pibake-escape-rel'), 'utf8'), 'inside\n')
  assert.ok((await lstat(join(root, 'opt/demo/etc-link'))).isSymbolicLink(), 'the image symlink is kept')
  assert.is(await lstat('/etc/pibake-escape-test').catch(() => undefined), undefined, 'the host /etc is untouched')
  assert.is(await lstat('/etc/pibake-escape-rel').catch(() => undefined), undefined)
})

test.run()
