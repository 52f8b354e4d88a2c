/** What the root modes put on a node's kernel command line and in its fstab. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { netbootCmdline, nodeCmdline } from '../../src/netboot/cmdline.ts'
import { buildArgs, rootCmdline } from '../../src/roots/cmdline.ts'
import { netbootFstab } from '../../src/stages/netboot.ts'

const BUILD = '/srv/nfs/x/builds/20261207-010203-1a2b3c4d'

test('nfs adds nothing: the command line is as it always was', () => {
  assert.equal(rootCmdline('nfs'), [])
  assert.equal(buildArgs('nfs', '10.0.0.2', BUILD, '20261207-010203-1a2b3c4d'), [])
})

test("the other modes name themselves; the image modes name the build's image beside its tree", () => {
  assert.equal(rootCmdline('overlay'), ['pibake.root=overlay'])
  assert.equal(buildArgs('overlay', '10.0.0.2', BUILD, '20261207-010203-1a2b3c4d'), [])
  for (const mode of ['squashfs', 'ram'] as const) {
    assert.equal(rootCmdline(mode), [`pibake.root=${mode}`])
    assert.equal(buildArgs(mode, '10.0.0.2', BUILD, '20261207-010203-1a2b3c4d'), ['pibake.image=10.0.0.2:/srv/nfs/x/builds/20261207-010203-1a2b3c4d.squashfs'])
  }
})

test('a node of an image mode still mounts the tree as nfsroot (the identity script reads its server and recipe there)', () => {
  const common = [...netbootCmdline('console=tty1 root=PARTUUID=1-02'), ...rootCmdline('ram'), ...buildArgs('ram', '10.0.0.2', BUILD, '20261207-010203-1a2b3c4d')]
  assert.is(nodeCmdline(common, { server: '10.0.0.2', path: BUILD }, []), `console=tty1 root=/dev/nfs ip=dhcp rootwait ro pibake.root=ram pibake.image=10.0.0.2:${BUILD}.squashfs nfsroot=10.0.0.2:${BUILD},vers=3\n`)
})

test('a writable root needs no tmpfs folders in its fstab; nfs keeps them', () => {
  const image = 'proc /proc proc defaults 0 0\nPARTUUID=1-02 / ext4 defaults 0 1\n'
  const writable = netbootFstab(image, ['10.0.0.2:/srv/shared  /shared  nfs  rw  0  0'], false)
  assert.not.match(writable, /^tmpfs/m)
  assert.match(writable, /^proc \/proc proc defaults 0 0$/m)
  assert.match(writable, /^10\.0\.0\.2:\/srv\/shared/m)
  assert.not.match(writable, 'PARTUUID')
  assert.is(netbootFstab(image, []), netbootFstab(image), 'nfs: the default is the fstab as it was')
  assert.match(netbootFstab(image), /^tmpfs\s+\/var\/log\s+tmpfs/m)
})

test.run()
