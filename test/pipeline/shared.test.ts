/** The shared folder: mounted read-write after the root, exported read-write, optionally serving the accounts. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, readFile, readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import { makeProject, type Project } from '../helpers/project.ts'
import { leftovers } from '../helpers/leftovers.ts'

let project: Project
test.before(async () => {
  project = await makeProject()
})
test.after(async () => {
  await project.remove()
})

test('a shared folder is mounted over NFS read-write, exported read-write, and can serve the accounts', async () => {
  const recipe = project.recipe((r) => void (r.netboot.shared = { path: '/srv/pibake/shared', mount: '/home', accounts: true }))
  await project.write('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n')
  await build(recipe, { outDir: project.out })
  assert.equal(await leftovers(project.dir), [])
  const root = join(project.out, 'publish/nfs/test-node/current')
  const fstab = await readFile(join(root, 'etc/fstab'), 'utf8')
  assert.match(fstab, /^10\.99\.0\.2:\/srv\/pibake\/shared\s+\/home\s+nfs\s+rw,nosuid,nodev,vers=3,nolock,_netdev/m)
  assert.ok((await stat(join(root, 'home'))).isDirectory())
  assert.is(await readlink(join(root, 'etc/systemd/system/multi-user.target.wants/pibake-accounts.service')), '/etc/systemd/system/pibake-accounts.service')
  const script = await readFile(join(root, 'usr/lib/pibake/accounts'), 'utf8')
  assert.match(script, "shared='/home/etc'")
  assert.match(script, 'mount --bind "$shared" "$image"')
  // /etc's account files point into the folder the node binds the shared etc/ over; the image's
  // own copies stay there for early boot, with their owners and modes.
  for (const name of ['passwd', 'shadow']) {
    assert.is(await readlink(join(root, 'etc', name)), `../var/lib/pibake/accounts/${name}`)
  }
  const shadow = await lstat(join(root, 'var/lib/pibake/accounts/shadow'))
  assert.ok(shadow.isFile())
  assert.is(shadow.mode & 0o7777, 0o640, 'shadow keeps its mode')
  assert.match(await readFile(join(root, 'var/lib/pibake/accounts/passwd'), 'utf8'), /^root:x:0:0:/m)
  const exports = await readFile(join(project.out, 'publish/exports'), 'utf8')
  assert.match(exports, /^\/srv\/pibake\/shared 10\.99\.0\.0\/24\(rw,sync,no_root_squash,no_subtree_check,fsid=\d+\)$/m)
})

test.run()
