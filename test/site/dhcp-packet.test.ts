/**
 * The DHCP request parser, the option 97 decoder and the dnsmasq log reader, on hand-built input:
 * well-formed requests, what the Pi bootloader sends, and every kind of malformed packet.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseDhcpRequest } from '../../src/site/dhcp-packet.ts'
import { decodeClientMachineId, decodeRevision, piMacPrefix } from '../../src/site/pi-models.ts'
import { DnsmasqLogReader } from '../../src/site/dnsmasq-log.ts'
import { identify } from '../../src/site/identify.ts'

const MAC = 'dc:a6:32:aa:bb:cc'
/** Type 0, "RPi4" little-endian, revision 0x00c03111 (Pi 4B) little-endian, the MAC's low 4 bytes, serial 0x1a2b3c4d. */
const PI4_ID = Buffer.from('00' + '52506934' + '1131c000' + '32aabbcc' + '4d3c2b1a', 'hex')

function request(fields: { op?: number; htype?: number; hlen?: number; cookie?: number; mac?: string; options: number[] }): Buffer {
  const header = Buffer.alloc(240)
  header.writeUInt8(fields.op ?? 1, 0)
  header.writeUInt8(fields.htype ?? 1, 1)
  header.writeUInt8(fields.hlen ?? 6, 2)
  header.writeUInt32BE(0x01020304, 4)
  Buffer.from((fields.mac ?? MAC).split(':').map((h) => Number.parseInt(h, 16))).copy(header, 28)
  header.writeUInt32BE(fields.cookie ?? 0x63825363, 236)
  return Buffer.concat([header, Buffer.from(fields.options)])
}

const vendor = [...Buffer.from('PXEClient:Arch:00000:UNDI:002001')]
const piOptions = [53, 1, 1, 0, 0, 93, 2, 0, 0, 60, vendor.length, ...vendor, 97, 17, ...PI4_ID, 12, 4, ...Buffer.from('node'), 255]

test('a DISCOVER like the Pi 4 bootloader sends: MAC, type, vendor class, architecture, option 97, name', () => {
  const parsed = parseDhcpRequest(request({ options: piOptions }))
  assert.ok(parsed)
  assert.is(parsed.xid, 0x01020304)
  assert.is(parsed.mac, MAC)
  assert.is(parsed.messageType, 'DISCOVER')
  assert.is(parsed.vendorClass, 'PXEClient:Arch:00000:UNDI:002001')
  assert.is(parsed.clientArch, 0)
  assert.equal(parsed.clientMachineId, PI4_ID)
  assert.is(parsed.hostname, 'node')
  assert.is(parsed.options.size, 5)
})

test('options may end without 255 at the end of the packet; a plain BOOTP request has no type', () => {
  const parsed = parseDhcpRequest(request({ options: [60, 3, 97, 98, 99] }))
  assert.is(parsed?.vendorClass, 'abc')
  assert.is(parsed?.messageType, undefined)
  assert.is(parsed?.clientMachineId, undefined)
})

test('malformed or foreign packets give undefined', () => {
  assert.is(parseDhcpRequest(Buffer.alloc(0)), undefined, 'empty')
  assert.is(parseDhcpRequest(request({ options: piOptions }).subarray(0, 239)), undefined, 'shorter than header + cookie')
  assert.is(parseDhcpRequest(request({ op: 2, options: piOptions })), undefined, 'a BOOTREPLY (a server answer)')
  assert.is(parseDhcpRequest(request({ htype: 6, options: piOptions })), undefined, 'not Ethernet')
  assert.is(parseDhcpRequest(request({ hlen: 8, options: piOptions })), undefined, 'hardware address not 6 bytes')
  assert.is(parseDhcpRequest(request({ cookie: 0, options: piOptions })), undefined, 'no magic cookie (plain BOOTP)')
  assert.is(parseDhcpRequest(request({ options: [53, 1, 1, 60, 40, 1, 2] })), undefined, 'an option running past the end')
  assert.is(parseDhcpRequest(request({ options: [53] })), undefined, 'an option without its length')
})

test('a vendor class that is not text is not reported as text', () => {
  assert.is(parseDhcpRequest(request({ options: [60, 2, 0xff, 0x01, 255] }))?.vendorClass, undefined)
})

test('option 97 in the documented format: model from the board revision, serial, MAC bytes checked', () => {
  const id = decodeClientMachineId(PI4_ID, MAC)
  assert.is(id.format, 'rpi')
  assert.is(id.revision?.model, '4B')
  assert.is(id.serial, '1a2b3c4d')
  assert.is(id.macMatches, true)
  assert.is(decodeClientMachineId(PI4_ID, 'dc:a6:32:00:00:01').macMatches, false, 'another MAC')
  const cm4 = Buffer.from('00' + '34695052' + '4131a000' + '01f8de90' + '89abcdef', 'hex')
  const read = decodeClientMachineId(cm4, 'e4:5f:01:f8:de:90')
  assert.is(read.revision?.model, 'CM4', 'magic in the other byte order, as logged from a real CM4')
  assert.is(read.macMatches, true)
})

test('option 97 of older EEPROMs (the serial four times), of other clients, and of the wrong size', () => {
  const repeated = decodeClientMachineId(Buffer.from('00' + '78563412'.repeat(4), 'hex'), MAC)
  assert.is(repeated.format, 'serial-repeated')
  assert.is(repeated.serial, '12345678')
  const pc = decodeClientMachineId(Buffer.from('00' + '4c4c4544003510528033b4c04f4e4732', 'hex'), MAC)
  assert.is(pc.format, 'unknown', 'a PC firmware UUID is not read as a Pi serial')
  assert.is(pc.serial, undefined)
  assert.is(decodeClientMachineId(Buffer.from('0001', 'hex'), MAC).format, 'unknown')
  assert.is(decodeClientMachineId(Buffer.from('01' + '00'.repeat(16), 'hex'), MAC).format, 'unknown', 'type 1')
})

test('board revisions and MAC prefixes', () => {
  assert.is(decodeRevision(0xc03111)?.model, '4B')
  assert.is(decodeRevision(0xd04170)?.model, '5')
  assert.is(decodeRevision(0xa02082)?.model, '3B')
  assert.is(decodeRevision(0xa02100)?.name, 'Compute Module 3+', 'a board pibake has no model name for')
  assert.is(decodeRevision(0xa02100)?.model, undefined)
  assert.is(decodeRevision(0x8ff000), undefined, 'unknown board type')
  assert.is(decodeRevision(0x000e), undefined, 'old-style code')
  assert.is(piMacPrefix('2C:CF:67:00:00:01')?.guess, '5')
  assert.is(piMacPrefix('52:54:00:12:34:56'), undefined)
})

test('identify: sure from option 97, a guess from the MAC prefix alone', () => {
  const seen = { first: new Date(0), last: new Date(1000) }
  const sure = identify([{ mac: MAC, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientMachineId: PI4_ID }], seen)
  assert.equal([sure.hostname, sure.model, sure.modelCertainty, sure.serial, sure.serialCertainty, sure.netboot], ['pi-aabbcc', '4B', 'sure', '1a2b3c4d', 'likely', true])
  const guess = identify([{ mac: 'b8:27:eb:01:02:03' }], seen)
  assert.equal([guess.model, guess.modelCertainty, guess.serial, guess.netboot], ['3B+', 'guess', undefined, false])
})

test('the dnsmasq log reader joins the lines of one request by transaction id', () => {
  const reader = new DnsmasqLogReader()
  const lines = [
    'Nov 30 19:56:24 dnsmasq-dhcp[15443]: 3319909381 available DHCP range: 10.77.0.100 -- 10.77.0.150',
    'Nov 30 19:56:24 dnsmasq-dhcp[15443]: 3319909381 vendor class: PXEClient:Arch:00000:UNDI:002001',
    'Nov 30 19:56:24 dnsmasq-dhcp[15443]: 3319909381 DHCPDISCOVER(eth0) dc:a6:32:AA:bb:cc ignored',
    'Nov 30 19:56:27 host dnsmasq-dhcp[15658]: 1410843940 PXE(eth1) d8:3a:dd:00:00:01 proxy-ignored',
    'Nov 30 19:56:28 dnsmasq-dhcp[15658]: 1315980339 DHCPREQUEST(eth0) 10.77.0.11 2c:cf:67:00:00:02',
    'Nov 30 19:56:28 dnsmasq[15658]: started, version 2.90 DNS disabled',
  ]
  const sightings = lines.map((line) => reader.line(line)).filter(Boolean)
  assert.equal(sightings, [
    { mac: 'dc:a6:32:aa:bb:cc', interface: 'eth0', vendorClass: 'PXEClient:Arch:00000:UNDI:002001', hostname: undefined },
    { mac: 'd8:3a:dd:00:00:01', interface: 'eth1', vendorClass: undefined, hostname: undefined },
    { mac: '2c:cf:67:00:00:02', interface: 'eth0', vendorClass: undefined, hostname: undefined },
  ])
})

test.run()
