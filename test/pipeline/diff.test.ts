/** The build's effect on the root, asserted as a snapshot diff: exactly the expected entries change. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import { diffSnapshots, takeSnapshot } from '../../src/snapshot/index.ts'
import { snapshotImage } from '../../src/snapshot/image.ts'
import { makeProject, type Project } from '../helpers/project.ts'
import { leftovers } from '../helpers/leftovers.ts'

let project: Project
test.before(async () => {
  project = await makeProject()
  await project.write('etc/motd', 'overlay motd\n')
  await project.write('usr/local/bin/tool', '#!/bin/sh\n', 0o755)
})
test.after(async () => {
  await project.remove()
})

test('the published root differs from the image root only by the overlay and the netboot changes', async () => {
  await build(project.recipe(), { outDir: project.out })
  const base = await snapshotImage(project.image.img)
  const published = await takeSnapshot(join(project.out, 'publish/nfs/test-node/current/'))
  const diff = diffSnapshots(base, published)
  assert.equal(diff.added.map((c) => c.path), [
    '/etc/hosts',
    '/etc/motd',
    '/etc/systemd/system/dphys-swapfile.service',
    '/etc/systemd/system/multi-user.target.wants/pibake-identity.service',
    '/etc/systemd/system/pibake-identity.service',
    '/etc/systemd/system/regenerate_ssh_host_keys.service',
    '/usr/lib/pibake',
    '/usr/lib/pibake/identity',
    '/usr/local',
    '/usr/local/bin',
    '/usr/local/bin/tool',
    // The tmpfs mount points the tiny image lacks: a read-only root cannot make them at boot.
    '/var',
    '/var/lib',
    '/var/lib/dhcp',
    '/var/lib/dhcpcd',
    '/var/lib/logrotate',
    '/var/lib/sudo',
    '/var/lib/systemd',
    '/var/log',
    '/var/spool',
    '/var/tmp',
  ])
  assert.equal(diff.removed.map((c) => c.path), ['/etc/systemd/system/multi-user.target.wants/dphys-swapfile.service'])
  assert.equal(
    diff.changed.map((c) => `${c.path}: ${c.fields?.map((f) => f.field).sort().join(',')}`),
    ['/etc/dhcpcd.conf: sha256,size', '/etc/fstab: sha256,size', '/etc/hostname: sha256,size', '/etc/machine-id: sha256,size'],
  )
  const masked = diff.added.find((c) => c.path === '/etc/systemd/system/dphys-swapfile.service')
  assert.is(masked?.after?.target, '/dev/null')
  const added = Object.fromEntries(diff.added.map((c) => [c.path, c.after]))
  assert.is(added['/usr/local/bin/tool']?.mode, 0o755)
  assert.is(added['/usr/local/bin/tool']?.uid, 0)
  assert.is(added['/etc/motd']?.mode, 0o644)
  assert.equal(await leftovers(project.dir), [])
})

test('the image entries that copies get wrong are all in the base snapshot, so an unchanged diff proves them kept', async () => {
  const base = await snapshotImage(project.image.img)
  const entry = (path: string) => base.entries.find((e) => e.path === path)
  assert.is(entry('/usr/bin/su')?.mode, 0o4755)
  assert.ok(entry('/usr/bin/ping')?.xattrs?.['security.capability'])
  assert.equal(entry('/dev/null')?.rdev, { major: 1, minor: 3 })
  assert.is(entry('/usr/share/demo/hardlink-b')?.hardlink, '/usr/share/demo/hardlink-a')
  assert.is(entry('/opt/demo/etc-link')?.target, '/etc')
  assert.is(entry('/etc/shadow')?.mode, 0o640)
})

test.run()
