/** The cross-recipe checks and the retention plan, on records written inline. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Destination } from '../../src/recipe/types.ts'
import { siteProblems } from '../../src/site/check.ts'
import type { SiteRecord } from '../../src/site/record.ts'
import { planRetention } from '../../src/site/retention.ts'

const ssh = (identity: string, path = '/srv/tftp'): Destination => ({ kind: 'ssh', user: 'root', host: 'pxe1', port: 22, path, identity, knownHosts: '/root/.ssh/known_hosts' })

function record(recipe: string, change: Partial<SiteRecord> = {}): SiteRecord {
  return {
    format: 1,
    recipe,
    file: `/etc/pibake/${recipe}.ts`,
    netboot: { server: '10.0.0.1', dhcp: { mode: 'proxy', network: '10.0.0.0' }, nfs: { server: '10.0.0.2', path: '/srv/nfs' } },
    nodes: [],
    where: { nfs: { kind: 'local', path: '/srv/nfs' }, tftp: ssh('/root/.ssh/a') },
    builds: [],
    keep: { builds: 3, days: 7 },
    updated: '2026-11-30T00:00:00.000Z',
    ...change,
  }
}

test('equal settings are equal whatever the order of their keys (a record read back from the site keeps the schema order)', () => {
  const dhcp = { mode: 'range', start: '10.0.0.100', end: '10.0.0.150', netmask: '255.255.255.0', router: '10.0.0.1', dns: [] as string[] } as const
  const a = record('a', { netboot: { ...record('a').netboot, dhcp } })
  const b = record('b', { netboot: { ...record('b').netboot, dhcp: { dns: [], end: dhcp.end, mode: 'range', netmask: dhcp.netmask, router: dhcp.router, start: dhcp.start } } })
  assert.equal(siteProblems(b, [a]), [])
  const c = record('c', { netboot: { ...record('c').netboot, dhcp: { ...dhcp, end: '10.0.0.160' } } })
  assert.is(siteProblems(c, [a]).length, 1)
})

test('a node in two recipes is named with both recipes and the field; a serial clashes by its TFTP prefix', () => {
  const a = record('a', { nodes: [{ hostname: 'n1', mac: 'dc:a6:32:00:00:01', model: '4B', serial: '10000000aabbccdd' }] })
  const b = record('b', { nodes: [{ hostname: 'm1', mac: 'dc:a6:32:00:00:01', model: '4B' }, { hostname: 'm2', mac: 'dc:a6:32:00:00:02', model: '5', serial: 'aabbccdd' }] })
  assert.equal(siteProblems(b, [a]).map((p) => [p.other, p.mac, p.message]), [
    ['a', 'dc:a6:32:00:00:01', 'b: node m1 has mac dc:a6:32:00:00:01, which the recipe "a" already gives its node n1'],
    ['a', 'dc:a6:32:00:00:01', 'b: node m2 has serial aabbccdd (TFTP prefix aabbccdd), which the recipe "a" already gives its node n1'],
  ])
  assert.equal(siteProblems(a, [a]), [], 'a recipe never clashes with its own record')
})

test("dnsmasq's log file is the site's: two recipes must name the same one", () => {
  const a = record('a', { netboot: { ...record('a').netboot, log: '/var/log/pibake-dnsmasq.log' } })
  assert.equal(siteProblems(record('b', { netboot: a.netboot }), [a]), [])
  const other = siteProblems(record('b'), [a])
  assert.equal(other.map((p) => p.message), ['netboot.log differs: b has "(syslog)", the recipe "a" at the same site has "/var/log/pibake-dnsmasq.log"'])
})

test('a shared folder two recipes use must be shared the same way (it is exported once)', () => {
  const shared = (rootSquash: boolean) => ({ path: '/srv/shared', mount: '/shared', accounts: !rootSquash, rootSquash })
  const a = record('a', { netboot: { ...record('a').netboot, shared: shared(false) } })
  assert.equal(siteProblems(record('b', { netboot: { ...a.netboot, shared: shared(false) } }), [a]), [])
  const squashed = siteProblems(record('b', { netboot: { ...a.netboot, shared: shared(true) } }), [a])
  assert.equal(squashed.map((p) => p.other), ['a'])
  assert.match(squashed[0]?.message ?? '', /^the shared folder differs: b has .*"rootSquash":true.*the recipe "a"/)
  const elsewhere = { ...shared(true), path: '/srv/other' }
  assert.equal(siteProblems(record('b', { netboot: { ...a.netboot, shared: elsewhere } }), [a]), [], 'folders of their own may differ')
})

test('the boot server settings must agree; the key that reaches the TFTP host does not matter, its place does', () => {
  const a = record('a')
  assert.equal(siteProblems(record('b', { where: { nfs: a.where.nfs, tftp: ssh('/home/ci/.ssh/b') } }), [a]), [])
  const moved = siteProblems(record('b', { where: { nfs: a.where.nfs, tftp: ssh('/root/.ssh/a', '/var/tftp') } }), [a])
  assert.equal(moved.map((p) => p.message), ['the TFTP root differs: b has "root@pxe1:22:/var/tftp", the recipe "a" at the same site has "root@pxe1:22:/srv/tftp"'])
  const range = siteProblems(record('b', { netboot: { ...a.netboot, dhcp: { mode: 'range', start: '10.0.0.100', end: '10.0.0.200', netmask: '255.255.255.0', dns: [] } } }), [a])
  assert.match(range[0]!.message, /^netboot\.dhcp differs: b has .*"range".*, the recipe "a" at the same site has .*"proxy"/)
})

test('retention keeps the live build, the newest N and every build live within the window, and says why', () => {
  const day = (d: number) => new Date(Date.UTC(2026, 10, d)).toISOString()
  const r = record('a', {
    live: 'e',
    builds: [
      { id: 'a', created: day(1), live: [{ from: day(1), until: day(2) }] },
      { id: 'b', created: day(2), live: [{ from: day(2), until: day(20) }] },
      { id: 'c', created: day(20), live: [] },
      { id: 'd', created: day(21), live: [{ from: day(21), until: day(25) }] },
      { id: 'e', created: day(25), live: [{ from: day(25) }] },
    ],
  })
  const plan = planRetention(r, { builds: 2, days: 7 }, new Date(day(30)))
  assert.equal(plan.keep.map((k) => [k.id, k.why]), [
    ['d', `live until ${day(25)}: nodes booted then may still run it (7 days kept)`],
    ['e', 'live'],
  ])
  assert.equal(plan.remove.map((k) => k.id), ['a', 'b', 'c'])
  assert.equal(planRetention(r, { builds: 4, days: 7 }, new Date(day(30))).remove.map((k) => k.id), ['a'], 'the 4 newest stay')
})

test.run()
