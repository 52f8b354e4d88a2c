import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { formatIPv4, netmaskBits, networkOf, parseIPv4, subnetLabel } from '../../src/recipe/ipv4.ts'
import { macToDashed, normalizeMac, normalizeSerial, parseModel, serialPrefix } from '../../src/recipe/node.ts'
import { editDistance, suggest } from '../../src/recipe/suggest.ts'

test('macToDashed gives the folder name of tftp-unique-root=mac, from any accepted spelling', () => {
  assert.is(macToDashed('dc:a6:32:01:02:03'), 'dc-a6-32-01-02-03')
  assert.is(macToDashed('DC-A6-32-01-02-03'), 'dc-a6-32-01-02-03')
  assert.throws(() => macToDashed('dc:a6:32:01:02'), /is not a MAC address/)
})

test('MACs: colons or dashes (not mixed), any case, six bytes of two hex digits', () => {
  assert.is(normalizeMac('D8:3A:DD:0a:0B:0c'), 'd8:3a:dd:0a:0b:0c')
  for (const bad of ['dc:a6:32:01:02:03:04', 'dc:a6:32:01:02', 'dc-a6:32:01:02:03', 'dca632010203', 'dc:a6:32:1:2:3', 'dc:a6:32:zz:00:01']) {
    assert.is(normalizeMac(bad), undefined, bad)
  }
})

test('serials: 8 or 16 hex digits, lower case; the boot prefix is the low 8', () => {
  assert.is(normalizeSerial('A1B2C3D4'), 'a1b2c3d4')
  assert.is(normalizeSerial('10000000ABCDEF01'), '10000000abcdef01')
  assert.is(normalizeSerial('1234567'), undefined)
  assert.is(normalizeSerial('0x12345678'), undefined)
  assert.is(serialPrefix('10000000abcdef01'), 'abcdef01')
})

test('models: the ones that netboot pass, Zero 2 W and 3A+ say why not, near misses get a suggestion', () => {
  assert.equal(parseModel('CM5'), { model: 'CM5' })
  assert.match(JSON.stringify(parseModel('Zero 2 W')), 'cannot boot from the network (it has no network boot support')
  assert.match(JSON.stringify(parseModel('zero2w')), 'a Raspberry Pi Zero 2 W cannot boot from the network')
  assert.match(JSON.stringify(parseModel('3A+')), 'a Raspberry Pi 3A+ cannot boot')
  assert.match(JSON.stringify(parseModel('Pi 400')), 'did you mean \\"400\\"?')
  assert.match(JSON.stringify(parseModel('Compute Module 4')), 'use one of 3B, 3B+, 4B, 400, CM4, 5, 500, CM5')
})

test('IPv4: dotted quads only, no leading zeros; subnets by prefix length', () => {
  assert.is(parseIPv4('192.168.1.255'), 0xc0a801ff)
  for (const bad of ['192.168.1', '192.168.1.256', '192.168.01.1', '1.2.3.4.5', ' 1.2.3.4', '']) assert.is(parseIPv4(bad), undefined, bad)
  assert.is(formatIPv4(0xc0a801ff), '192.168.1.255')
  assert.is(netmaskBits('255.255.255.0'), 24)
  assert.is(netmaskBits('255.255.254.0'), 23)
  assert.is(netmaskBits('0.0.0.0'), 0)
  assert.is(netmaskBits('255.0.255.0'), undefined)
  assert.is(formatIPv4(networkOf(parseIPv4('10.1.2.3') ?? 0, 16)), '10.1.0.0')
  assert.is(subnetLabel(parseIPv4('192.168.1.77') ?? 0, 24), '192.168.1.0/24')
})

test('suggest finds likely typos and nothing for unrelated words', () => {
  assert.is(suggest('hostnme', ['hostname', 'mac', 'ip']), 'hostname')
  assert.is(suggest('Hostname', ['hostname', 'mac']), 'hostname')
  assert.is(suggest('ip', ['mac']), undefined)
  assert.is(suggest('overlay', ['overlays', 'publish']), 'overlays')
  assert.is(suggest('zzz', ['name', 'image']), undefined)
  assert.is(editDistance('serail', 'serial'), 1)
})

test.run()
