/**
 * The Pi 3s' own dnsmasq (src/netboot/pi3-split.ts, pi3-dnsmasq.ts): when a fleet's transfers are
 * capped and it holds Pi 3B/3B+ nodes and others, a second address of the boot server
 * (`netboot.pi3Server`) gets a dnsmasq that answers the Pi 3s alone; dnsmasq.conf answers the
 * others on the server's own address. Anything short of that renders dnsmasq.conf byte for byte
 * as without the field. The field's refusals, and what `pibake plan` says.
 */
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderSiteDnsmasqConf } from '../../src/netboot/dnsmasq.ts'
import { renderPi3DnsmasqConf } from '../../src/netboot/pi3-dnsmasq.ts'
import { pi3Clause, pi3Split } from '../../src/netboot/pi3-split.ts'
import { fleetSizing, sizingLimits } from '../../src/netboot/sizing.ts'
import type { NetbootModel, Recipe } from '../../src/recipe/types.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'
import minimal from '../recipe/fixtures/valid/minimal.ts'
import { recipeProblems } from '../helpers/recipe-problems.ts'
import { node, recipe } from '../helpers/netboot-recipe.ts'

const dhcp = { mode: 'range', start: '10.77.200.1', end: '10.77.200.250', netmask: '255.255.0.0', router: undefined, dns: [] } as const
const options = { tftpRoot: '/srv/tftp' }

/** A fleet of `count` nodes, the models in turn, on 10.77.0.0/16 (the server 10.77.0.1). */
function fleet(count: number, models: readonly NetbootModel[], pi3Server?: string, iface?: string): Recipe {
  const nodes = Array.from({ length: count }, (_, i) => node({ hostname: `pi${i}`, mac: `dc:a6:32:00:${hex(i >> 8)}:${hex(i & 0xff)}`, ip: `10.77.${1 + (i >> 8)}.${1 + (i & 0xff)}`, model: models[i % models.length]! }))
  const base = recipe({ dhcp, nodes, ...(iface ? { interface: iface } : {}) })
  return { ...base, netboot: { ...base.netboot, ...(pi3Server ? { pi3Server } : {}) } }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0')
}

const lines = (text: string, pattern: RegExp) => text.split('\n').filter((line) => pattern.test(line))

test('a fleet whose transfers are not capped: dnsmasq.conf as without the field, byte for byte, and no second file', () => {
  for (const count of [6, 200]) {
    const named = fleet(count, ['3B+', '4B', '5'], '10.77.0.3', 'eth0')
    const plain = fleet(count, ['3B+', '4B', '5'], undefined, 'eth0')
    assert.is(renderSiteDnsmasqConf([named], options), renderSiteDnsmasqConf([plain], options), `${count} nodes`)
    assert.is(renderPi3DnsmasqConf([named], options), undefined, `${count} nodes`)
  }
})

test('capped, but no Pi 3, or nothing but Pi 3s, or no second address: one dnsmasq as before', () => {
  for (const [models, address] of [[['4B', '5'], '10.77.0.3'], [['3B+', '3B'], '10.77.0.3'], [['3B+', '4B', '5'], undefined]] as const) {
    const named = fleet(1000, models, address)
    assert.is(renderSiteDnsmasqConf([named], options), renderSiteDnsmasqConf([fleet(1000, models)], options), models.join())
    assert.is(renderPi3DnsmasqConf([named], options), undefined, models.join())
  }
})

test('1,000 mixed nodes: the Pi 3s answered on the second address with transfers of their own, the others on the first; the link\'s transfers shared, not doubled', () => {
  const split = fleet(1000, ['3B+', '4B', '5', '3B'], '10.77.0.3', 'eth0')
  const main = renderSiteDnsmasqConf([split], options)
  const pi3 = renderPi3DnsmasqConf([split], options)!
  const slots = fleetSizing(1000, 'range').linkSlots
  const pi3Max = Number(/^tftp-max=(\d+)$/m.exec(pi3)?.[1])
  const mainMax = Number(/^tftp-max=(\d+)$/m.exec(main)?.[1])
  assert.ok(pi3Max > 0 && mainMax > 0 && pi3Max + mainMax <= slots, `${pi3Max} + ${mainMax} within the link's ${slots}`)
  assert.is(pi3Max, Math.ceil(slots / 2), 'the Pi 3s first: up to half the link\'s transfers')
  // Each listens on its own address only: TFTP's port 69 is bound per address, and interface=eth0 would bind both.
  assert.equal(lines(main, /^(listen-address|interface)=/), ['listen-address=10.77.0.1'])
  assert.equal(lines(pi3, /^(listen-address|interface)=/), ['listen-address=10.77.0.3'])
  for (const text of [main, pi3]) {
    assert.equal(lines(text, /^(port|bind-dynamic|dhcp-ignore|enable-tftp|tftp-unique-root|tftp-single-port)/), ['port=0', 'bind-dynamic', 'dhcp-ignore=tag:!known', 'enable-tftp', 'tftp-unique-root=mac', 'tftp-single-port'])
    assert.match(text, /^dhcp-range=10\.77\.200\.1,10\.77\.200\.250,255\.255\.0\.0,12h$/m)
  }
  const hosts = (text: string) => lines(text, /^dhcp-host=/)
  assert.is(hosts(main).length, 500)
  assert.is(hosts(pi3).length, 500)
  const pi3Nodes = split.nodes.filter((n) => n.model === '3B+' || n.model === '3B')
  assert.equal(hosts(pi3).map((l) => l.split(',')[0]), pi3Nodes.map((n) => `dhcp-host=${n.mac}`), 'every Pi 3, and only they, in its file')
  assert.not.ok(pi3Nodes.some((n) => main.includes(n.mac)), 'no Pi 3 in dnsmasq.conf: it ignores them')
  assert.match(pi3, /^dhcp-host=dc:a6:32:00:00:03,set:pibake,set:pibake-3b,10\.77\.1\.4,pi3$/m, 'a 3B keeps its tag')
  assert.match(pi3, /^pxe-service=tag:pibake-3b,0,"Raspberry Pi Boot   "$/m, 'and its menu text with three spaces')
  assert.not.match(main, /Raspberry Pi Boot   /, 'dnsmasq.conf serves no 3B any more')
  // No router named: dnsmasq would name itself (10.77.0.3); the Pi 3s get the one the others get.
  assert.match(pi3, /^dhcp-option=option:router,10\.77\.0\.1$/m)
  assert.match(main, /answered by a dnsmasq of their own on 10\.77\.0\.3 \(dnsmasq-pi3\.conf/)
  assert.match(pi3, /^tftp-root=\/srv\/tftp$/m)
})

test('the split as a function: shares by count, and none for a proxy-mode fleet without a server address', () => {
  const nodes = Array.from({ length: 900 }, (_, i) => ({ model: (i % 9 === 0 ? '3B+' : '4B') as NetbootModel }))
  const split = pi3Split({ server: '10.0.0.1', pi3Server: '10.0.0.3', dhcp: { mode: 'proxy', network: '10.0.0.0' } }, nodes)!
  assert.is(split.pi3.nodes, 100)
  assert.is(split.others.nodes, 800)
  assert.is(split.pi3.dhcpLeaseMax, undefined, 'proxy mode: no leases of its own')
  assert.is(pi3Split({ pi3Server: '10.0.0.3', dhcp: { mode: 'proxy', network: '10.0.0.0' } }, nodes), undefined)
})

test('pibake plan: the Pi 3s\' own dnsmasq when split, else power them on first or name the field; nothing of Pi 3s without any', () => {
  const say = (r: Recipe) => sizingLimits(r.nodes.length, {}, pi3Clause(r.netboot, r.nodes)).join('\n')
  assert.match(say(fleet(1000, ['3B+', '4B', '5'], '10.77.0.3')), /the 334 Pi 3B\/3B\+, which get one attempt, are answered by a dnsmasq of their own on 10\.77\.0\.3 with 25 transfers \(dnsmasq-pi3\.conf\): run it beside dnsmasq\.conf; of more than 50 Pi 3s powered on at once, some wait past their firmware's 30 s for the largest file: power on at most 50 at once/)
  assert.not.match(say(fleet(1000, ['3B+', ...Array<NetbootModel>(24).fill('4B')], '10.77.0.3')), /power on at most/, '40 Pi 3s: within what their transfers bring in 30 s')
  assert.match(say(fleet(1000, ['3B+', '4B', '5'])), /a Pi 3B\/3B\+ gets one attempt: power those on first, at most 50 at once, or name a second address of the boot server in netboot\.pi3Server/)
  assert.not.match(say(fleet(1000, ['4B', '5'])), /Pi 3/)
  assert.match(say(fleet(1000, ['3B+'])), /power those on first, at most 50 at once$/m, 'nothing but Pi 3s: no field to name')
})

const file = join(import.meta.dirname, '../recipe/fixtures/valid/inline.ts')
function withPi3Server(pi3Server: unknown): unknown {
  return { ...minimal, netboot: { ...minimal.netboot, pi3Server } }
}

test('the field is kept; a recipe without it has none', () => {
  assert.is(validateRecipe(withPi3Server('192.168.1.3'), file).netboot.pi3Server, '192.168.1.3')
  assert.not.ok('pi3Server' in validateRecipe(minimal, file).netboot)
})

test('refused, each with its reason: not an address, the server\'s own, another subnet, inside the DHCP range, a node\'s', () => {
  for (const [value, expected] of [
    ['boot-2', 'netboot.pi3Server: "boot-2" is not an IPv4 address'],
    ['192.168.1.1', "netboot.pi3Server: 192.168.1.1 is the server's address (netboot.server)"],
    ['192.168.2.3', "netboot.pi3Server: 192.168.2.3 is not in the server's subnet (192.168.1.0/24)"],
    ['192.168.1.150', 'netboot.pi3Server: 192.168.1.150 is inside the DHCP range (netboot.dhcp 192.168.1.100 to 192.168.1.199)'],
    ['192.168.1.21', 'netboot.pi3Server: 192.168.1.21 is the address of nodes[0] (node1)'],
  ] as const) {
    const found = recipeProblems(withPi3Server(value), file)
    assert.is(found.length, 1, found.join(' | '))
    assert.ok(found[0]!.includes(expected), `${found[0]} ≠ ${expected}`)
  }
})

test.run()
