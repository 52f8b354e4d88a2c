import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError } from '../../src/errors.ts'
import {
  isFirmwareName,
  PXE_MENU_TEXT,
  PXE_MENU_TEXT_3B,
  bootFamily,
  bootFiles,
  macDir,
  missingBootFiles,
  needsThreeSpacePxe,
  pxeMenuText,
  serialDir,
  tftpDirs,
  usesPrefix,
} from '../../src/netboot/layout.ts'
import type { NetbootModel } from '../../src/recipe/types.ts'
import { node } from '../helpers/netboot-recipe.ts'

const names = (model: string) => bootFiles(model).flatMap((f) => f.anyOf)
const pibakeError = (pattern = /./) => (e: unknown) => e instanceof PibakeError && pattern.test(e.message)

test('macDir writes the MAC as dnsmasq tftp-unique-root=mac looks for it', () => {
  assert.is(macDir('dc:a6:32:01:02:03'), 'dc-a6-32-01-02-03')
  assert.is(macDir('DC-A6-32-0A-0B-0C'), 'dc-a6-32-0a-0b-0c')
  assert.throws(() => macDir('dc:a6:32:zz:00:01'), pibakeError(/not a MAC address/))
  assert.throws(() => macDir('dc:a6:32:01:02'), pibakeError())
})

test('serial directories are the low 8 hex digits, lower case, zero padded', () => {
  assert.is(serialDir('10000000ABCDEF01'), 'abcdef01')
  assert.is(serialDir('d83add1e'), 'd83add1e')
  assert.is(serialDir('0x1234abc'), '01234abc')
  assert.throws(() => serialDir('serial-1'), pibakeError(/not a board serial/))
})

test('a node always needs its MAC directory; the serial directory only when asked for', () => {
  const n = node({ hostname: 'n1', mac: 'dc:a6:32:01:02:03', ip: '10.0.0.1', serial: '100000001a2b3c4d' })
  assert.equal(tftpDirs(n), ['dc-a6-32-01-02-03'])
  assert.equal(tftpDirs(n, { serial: true }), ['dc-a6-32-01-02-03', '1a2b3c4d'])
  const noSerial = node({ hostname: 'n2', mac: 'dc:a6:32:01:02:04', ip: '10.0.0.2' })
  assert.throws(() => tftpDirs(noSerial, { serial: true }), pibakeError(/n2 has no serial/))
})

test('Pi 3B and 3B+ fetch bootcode.bin from the root they see, then start.elf', () => {
  for (const model of ['3B', '3B+']) {
    assert.is(bootFamily(model), 'pi3')
    const files = bootFiles(model)
    assert.equal(files[0], { anyOf: ['bootcode.bin'], what: 'second-stage loader', where: 'root' })
    assert.ok(names(model).includes('start.elf'))
    assert.ok(names(model).includes('fixup.dat'))
    assert.not.ok(names(model).includes('start4.elf'))
  }
})

test('Pi 4, 400 and CM4 fetch start4.elf and fixup4.dat, never bootcode.bin', () => {
  for (const model of ['4B', '400', 'CM4']) {
    assert.is(bootFamily(model), 'pi4')
    assert.ok(names(model).includes('start4.elf'))
    assert.ok(names(model).includes('fixup4.dat'))
    assert.not.ok(names(model).includes('bootcode.bin'))
    assert.ok(bootFiles(model).every((f) => f.where === 'prefix'))
  }
})

test('Pi 5, 500 and CM5 fetch config.txt, a bcm2712 dtb, kernel_2712.img and initramfs_2712, no start*.elf', () => {
  for (const model of ['5', '500', 'CM5']) {
    assert.is(bootFamily(model), 'pi5')
    const all = names(model)
    for (const name of ['config.txt', 'bcm2712*.dtb', 'kernel_2712.img', 'initramfs_2712']) assert.ok(all.includes(name), name)
    assert.not.ok(all.some((n) => n.startsWith('start')))
    assert.not.ok(all.includes('bootcode.bin'))
  }
})

test('Zero 2 W and 3A+ are refused with the reason (validation rejects them earlier)', () => {
  for (const model of ['Zero 2 W', '3A+']) {
    assert.throws(() => bootFiles(model), pibakeError(/cannot boot from the network/))
    assert.throws(() => missingBootFiles(node({ hostname: 'z', mac: 'dc:a6:32:00:00:09', ip: '10.0.0.9', model: model as NetbootModel }), []), pibakeError(/cannot boot/))
  }
})

test('kernel and initramfs names set in config.txt replace the defaults', () => {
  const files = bootFiles('4B', { kernel: 'vmlinuz', initramfs: 'initrd.img' })
  assert.equal(files.find((f) => f.what === 'kernel')?.anyOf, ['vmlinuz'])
  assert.equal(files.find((f) => f.what === 'initramfs')?.anyOf, ['initrd.img'])
})

test('missingBootFiles checks a MAC tree, and a serial tree with bootcode.bin at the root', () => {
  const pi4 = node({ hostname: 'n1', mac: 'dc:a6:32:01:02:03', ip: '10.0.0.1', serial: 'abcdef01' })
  const dir = 'dc-a6-32-01-02-03'
  const complete = ['start4.elf', 'fixup4.dat', 'config.txt', 'bcm2711-rpi-4-b.dtb', 'kernel8.img', 'initramfs8', 'cmdline.txt'].map((n) => `${dir}/${n}`)
  assert.equal(missingBootFiles(pi4, complete), [])
  assert.equal(missingBootFiles(pi4, complete.filter((p) => !p.endsWith('.dtb'))), [`${dir}/bcm2711*.dtb (device tree)`])
  assert.equal(missingBootFiles(pi4, complete.filter((p) => !p.endsWith('kernel8.img'))), [`${dir}/kernel8.img or ${dir}/kernel7l.img (kernel)`])
  // a dtb one directory further down does not count
  assert.equal(missingBootFiles(pi4, [...complete.filter((p) => !p.endsWith('.dtb')), `${dir}/overlays/bcm2711-x.dtb`]).length, 1)

  const pi3 = node({ hostname: 'n3', mac: 'b8:27:eb:00:00:01', ip: '10.0.0.3', serial: '00000000c0ffee00', model: '3B' })
  const serialTree = ['bootcode.bin', ...['start.elf', 'fixup.dat', 'config.txt', 'bcm2710-rpi-3-b.dtb', 'kernel8.img', 'initramfs8', 'cmdline.txt'].map((n) => `c0ffee00/${n}`)]
  assert.equal(missingBootFiles(pi3, serialTree, { layout: 'serial' }), [])
  assert.equal(missingBootFiles(pi3, serialTree.slice(1), { layout: 'serial' }), ['bootcode.bin (second-stage loader)'])
  assert.equal(missingBootFiles(pi3, serialTree, { layout: 'mac' }).length, 8)
})

test('the firmware keeps its serial prefix only when the directory holds what it looks for first', () => {
  assert.ok(usesPrefix('4B', ['start4.elf', 'fixup4.dat']))
  assert.not.ok(usesPrefix('4B', ['config.txt']))
  assert.ok(usesPrefix('3B+', ['start.elf']))
  assert.not.ok(usesPrefix('5', ['config.txt']), 'Pi 5 needs a dtb beside config.txt')
  assert.not.ok(usesPrefix('5', ['bcm2712-rpi-5-b.dtb']))
  assert.ok(usesPrefix('5', ['config.txt', 'bcm2712-rpi-5-b.dtb']))
})

test('only a fleet with a Pi 3B needs the menu text with three trailing spaces', () => {
  assert.is(PXE_MENU_TEXT_3B, `${PXE_MENU_TEXT}   `)
  assert.ok(needsThreeSpacePxe([{ model: '4B' }, { model: '3B' }]))
  assert.not.ok(needsThreeSpacePxe([{ model: '3B+' }, { model: '5' }]))
  assert.is(pxeMenuText('3B'), 'Raspberry Pi Boot   ')
  assert.is(pxeMenuText('3B+'), 'Raspberry Pi Boot')
})

test('the boot files TFTP serves: every name a firmware fetches, and whatever config.txt names; nothing else', () => {
  const pios = ['bootcode.bin', 'start.elf', 'start4.elf', 'start4x.elf', 'fixup.dat', 'fixup4cd.dat', 'config.txt', 'cmdline.txt', 'kernel8.img', 'kernel_2712.img', 'kernel7l.img', 'initramfs8', 'initramfs_2712', 'bcm2711-rpi-4-b.dtb', 'bcm2712-rpi-500.dtb', 'overlays']
  for (const name of pios) assert.ok(isFirmwareName(name, ''), name)
  for (const name of ['issue.txt', 'LICENCE.broadcom', 'userconf.txt', 'firstrun.sh', 'custom.toml', 'wpa_supplicant.conf', 'ssh', 'user-data', 'extra.txt', 'vmlinuz', 'boot']) {
    assert.not.ok(isFirmwareName(name, '[all]\narm_64bit=1\n# kernel=vmlinuz is a comment\n'), name)
  }
  const config = '[all]\nkernel=vmlinuz\ninitramfs initrd.img followkernel\ninclude extra.txt\nos_prefix=boot/\ncmdline=cmd-node.txt\n'
  for (const name of ['vmlinuz', 'initrd.img', 'extra.txt', 'boot', 'cmd-node.txt']) assert.ok(isFirmwareName(name, config), name)
  assert.not.ok(isFirmwareName('userconf.txt', config))
})

test.run()
