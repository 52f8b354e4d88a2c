/**
 * The simulated firmware's pure parts: config.txt read as the firmware reads it, option 97 as a
 * Pi 4/5 sends it (read back by the decoder `pibake discover` uses), the DHCP messages, the PXE menu
 * check (the 3B's three spaces), and the layout's required files coming from the same table.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { bootFiles, pxeMenuText } from '../../src/netboot/layout.ts'
import { initramfsFor, readConfigTxt, requestsAfterConfig } from '../../src/rehearse/config-txt.ts'
import { menuAccepted } from '../../src/rehearse/dhcp-client.ts'
import { DHCP, decodeServerReply, encodeClientMessage } from '../../src/rehearse/dhcp-wire.ts'
import { FIRMWARE, PI_VENDOR_CLASS, REQUIRED_FILES } from '../../src/rehearse/firmware.ts'
import { parseDhcpRequest } from '../../src/site/dhcp-packet.ts'
import { decodeClientMachineId, encodeClientMachineId } from '../../src/site/pi-models.ts'

const CONFIG = `# a Pi OS style config.txt
auto_initramfs=1
dtoverlay=vc4-kms-v3d
arm_64bit=1
[pi4]
kernel=kernel-pi4.img
[pi5]
os_prefix=pi5/
device_tree=custom-5.dtb
initramfs initrd-5.img followkernel
[cm4]
dtoverlay=dwc2,dr_mode=host
[all]
include extra.txt
`

test('config.txt: [pi4] and [pi5] sections apply to their boards only; the rest falls back to the defaults', () => {
  const pi4 = readConfigTxt(CONFIG, '4B')
  assert.equal(pi4.kernels, ['kernel-pi4.img'])
  assert.is(pi4.initramfs, 'from-kernel', 'auto_initramfs: the initramfs named after the kernel')
  assert.is(pi4.deviceTree, 'bcm2711-rpi-4-b.dtb')
  assert.equal(pi4.overlays, ['vc4-kms-v3d'], 'the [cm4] overlay is not a 4B\'s')
  assert.is(pi4.osPrefix, '')
  const cm4 = readConfigTxt(CONFIG, 'CM4')
  assert.equal(cm4.overlays, ['vc4-kms-v3d', 'dwc2'])
  const pi5 = readConfigTxt(CONFIG, '5')
  assert.equal(pi5.kernels, ['kernel_2712.img', 'kernel8.img'], 'a Pi 5 tries kernel_2712.img, then kernel8.img')
  assert.equal(pi5.initramfs, { name: 'initrd-5.img', optional: false })
  assert.is(pi5.osPrefix, 'pi5/')
  assert.equal(requestsAfterConfig(pi5).map((r) => r.name), ['pi5/custom-5.dtb', 'pi5/overlays/overlay_map.dtb', 'pi5/overlays/vc4-kms-v3d.dtbo', 'pi5/cmdline.txt'])
  const pi3 = readConfigTxt(CONFIG, '3B+')
  assert.equal(pi3.kernels, ['kernel8.img'], 'arm_64bit=1 on a Pi 3: kernel8.img')
  assert.equal(readConfigTxt('', '3B').kernels, ['kernel7.img'], 'a Pi 3 without arm_64bit: kernel7.img')
  assert.is(initramfsFor('kernel_2712.img'), 'initramfs_2712')
})

test('config.txt: an include is asked for, then read in place; a later setting wins', () => {
  assert.equal(readConfigTxt(CONFIG, '4B').includes, ['extra.txt'])
  const read = readConfigTxt(CONFIG, '4B', new Map([['extra.txt', 'kernel=from-include.img\ncmdline=cmd-4.txt\n']]))
  assert.equal(read.includes, [])
  assert.equal(read.kernels, ['from-include.img'])
  assert.is(read.cmdline, 'cmd-4.txt')
})

test('option 97 as a Pi 4/5 sends it reads back as its board, MAC and serial', () => {
  const mac = 'dc:a6:32:0a:0b:0c'
  const decoded = decodeClientMachineId(encodeClientMachineId(FIRMWARE.CM4.revision, mac, '1234abcd'), mac)
  assert.is(decoded.format, 'rpi')
  assert.is(decoded.revision?.model, 'CM4')
  assert.is(decoded.serial, '1234abcd')
  assert.is(decoded.macMatches, true)
  assert.is(decodeClientMachineId(encodeClientMachineId(FIRMWARE['5'].revision, mac, '00000001'), mac).revision?.model, '5')
})

test('a DISCOVER as the firmware sends it: its MAC, the PXEClient vendor class, option 93 = 0, option 97 for a Pi 4', () => {
  const machineId = encodeClientMachineId(FIRMWARE['4B'].revision, 'dc:a6:32:01:02:03', '0badf00d')
  const packet = encodeClientMessage({ type: DHCP.DISCOVER, mac: 'dc:a6:32:01:02:03', xid: 0x1234, vendorClass: PI_VENDOR_CLASS, clientMachineId: machineId })
  const request = parseDhcpRequest(packet)
  assert.ok(request)
  assert.is(request.messageType, 'DISCOVER')
  assert.is(request.mac, 'dc:a6:32:01:02:03')
  assert.is(request.vendorClass, 'PXEClient:Arch:00000:UNDI:002001')
  assert.is(request.clientArch, 0)
  assert.equal(request.clientMachineId, machineId)
  const release = parseDhcpRequest(encodeClientMessage({ type: DHCP.RELEASE, mac: 'dc:a6:32:01:02:03', xid: 1, vendorClass: '', ciaddr: '10.0.0.5', serverId: '10.0.0.1' }))
  assert.is(release?.messageType, 'RELEASE')
})

test('an offer read back: address, TFTP server (next server), PXE menu texts', () => {
  const reply = Buffer.alloc(300)
  reply.writeUInt8(2, 0)
  reply.writeUInt32BE(7, 4)
  Buffer.from([10, 0, 0, 9]).copy(reply, 16)
  Buffer.from([10, 0, 0, 1]).copy(reply, 20)
  reply.writeUInt32BE(0x63825363, 236)
  const text = Buffer.from('Raspberry Pi Boot   ')
  const menu = Buffer.from([0, 0, text.length, ...text])
  const vendor = Buffer.from([6, 1, 3, 9, menu.length, ...menu, 255])
  Buffer.from([53, 1, 2, 54, 4, 10, 0, 0, 1, 1, 4, 255, 255, 255, 0, 43, vendor.length, ...vendor, 255]).copy(reply, 240)
  const offer = decodeServerReply(reply)
  assert.ok(offer)
  assert.is(offer.type, DHCP.OFFER)
  assert.is(offer.yiaddr, '10.0.0.9')
  assert.is(offer.tftpServer, '10.0.0.1')
  assert.equal(offer.menu, ['Raspberry Pi Boot   '])
})

test('the PXE menu text: the 3B wants its three trailing spaces, the others the plain text', () => {
  assert.ok(menuAccepted('3B', ['Raspberry Pi Boot   ']))
  assert.not.ok(menuAccepted('3B', ['Raspberry Pi Boot']), 'a 3B ignores the plain text')
  assert.ok(menuAccepted('4B', ['Raspberry Pi Boot']))
  assert.ok(menuAccepted('5', ['other', 'Raspberry Pi Boot']))
  assert.not.ok(menuAccepted('3B+', []))
  assert.is(pxeMenuText('3B'), 'Raspberry Pi Boot   ')
})

test('the layout checks a tree against the same per-model table the simulator fetches from', () => {
  assert.equal(bootFiles('5'), REQUIRED_FILES.pi5)
  assert.is(FIRMWARE['5'].tftp.retryTimedOutFile, false, 'a Pi 5 does not ask again for a file that timed out')
  assert.is(FIRMWARE['3B'].dhcp.offerIsEnough, true, "the 3B's ROM goes on with the offer")
  assert.is(FIRMWARE['3B+'].dhcp.offerIsEnough, false)
  assert.is(FIRMWARE['4B'].dhcp.overallMs, 45_000, 'DHCP_TIMEOUT')
  assert.is(FIRMWARE['4B'].dhcp.retryMs, 4000, 'DHCP_REQ_TIMEOUT')
})

test.run()
