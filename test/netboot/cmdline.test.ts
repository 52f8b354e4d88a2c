import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { netbootCmdline, nodeCmdline } from '../../src/netboot/cmdline.ts'
import { netbootFstab } from '../../src/stages/netboot.ts'
import { dhcpcdConf, hostsFile } from '../../src/netboot/diskless.ts'

const PIOS = 'console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot splash plymouth.ignore-serial-consoles'

test('the image command line loses its local-root and first-boot arguments and gains the NFS-root ones', () => {
  assert.equal(netbootCmdline(PIOS), ['console=serial0,115200', 'console=tty1', 'quiet', 'splash', 'plymouth.ignore-serial-consoles', 'root=/dev/nfs', 'ip=dhcp', 'rootwait', 'ro'])
})

test('a node command line names its build with vers=3 and no proto=, then its own arguments, which replace same-named ones', () => {
  const line = nodeCmdline(netbootCmdline(PIOS), { server: '10.0.0.2', path: '/srv/nfs/x/builds/1' }, ['quiet=0', 'console=ttyAMA0'])
  assert.is(line, 'console=serial0,115200 console=tty1 splash plymouth.ignore-serial-consoles root=/dev/nfs ip=dhcp rootwait ro nfsroot=10.0.0.2:/srv/nfs/x/builds/1,vers=3 quiet=0 console=ttyAMA0\n')
  assert.not.match(line, 'proto=')
})

test('fstab keeps proc, drops the root, the SD partitions and swap, and mounts tmpfs on the state paths', () => {
  const fstab = netbootFstab('proc /proc proc defaults 0 0\nPARTUUID=1-01 /boot/firmware vfat defaults 0 2\nPARTUUID=1-02 / ext4 defaults,noatime 0 1\n/var/swap none swap sw 0 0\n# a comment\n')
  assert.match(fstab, /^proc \/proc proc defaults 0 0$/m)
  assert.match(fstab, '# a comment')
  for (const gone of ['PARTUUID', 'swap', ' / ext4']) assert.not.match(fstab, gone)
  for (const path of ['/tmp', '/var/tmp', '/var/log', '/var/lib/dhcpcd']) assert.match(fstab, new RegExp(`^tmpfs\\s+${path}\\s+tmpfs`, 'm'))
})

test('fstab: a root already made diskless (an exported build imported as an image) gets the same fstab again, not its lines twice', () => {
  const image = 'proc /proc proc defaults 0 0\nPARTUUID=1-02 / ext4 defaults,noatime 0 1\n'
  const shared = ['10.0.0.2:/srv/shared  /shared  nfs  rw,nosuid,nodev  0  0']
  for (const [extra, tmpfs] of [[[], true], [shared, true], [shared, false]] as const) {
    const once = netbootFstab(image, extra, tmpfs)
    assert.is(netbootFstab(once, extra, tmpfs), once)
  }
})

test('the hosts file lists every node and no 127.0.1.1 line', () => {
  const hosts = hostsFile([{ hostname: 'node1', ip: '10.0.0.11' }, { hostname: 'node2', ip: '10.0.0.12' }])
  assert.match(hosts, /^10\.0\.0\.11\s+node1$/m)
  assert.match(hosts, /^10\.0\.0\.12\s+node2$/m)
  assert.not.match(hosts, '127.0.1.1')
})

test('dhcpcd gets nolink once', () => {
  const once = dhcpcdConf('hostname\n')
  assert.match(once, /^nolink$/m)
  assert.is(dhcpcdConf(once), once)
})

test.run()
