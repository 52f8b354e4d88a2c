/**
 * `pibake rehearse` against a site on a test LAN, from an "operator" machine there (a namespace of
 * its own, its eth0 on the LAN): the boot server runs the published dnsmasq.conf; one node of the
 * fleet is up (its address answers), so the rehearsal leaves it alone and acts as the others only,
 * from a namespace it makes on a macvlan of the operator's interface, and gives back every lease.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderDnsmasqConf } from '../../src/netboot/dnsmasq.ts'
import type { Rehearsal } from '../../src/rehearse/rehearse.ts'
import type { Dhcp, Recipe } from '../../src/recipe/types.ts'
import { exec } from '../../src/system/exec.ts'
import { node, recipe } from '../helpers/netboot-recipe.ts'
import { withLan } from '../helpers/netns.ts'
import { demoBootTree, simulatedPis, startStormDnsmasq } from '../helpers/storm-lan.ts'

const RUN = join(import.meta.dirname, '..', 'helpers', 'rehearse-run.ts')
const dir = mkdtempSync(join(tmpdir(), 'pibake-rehearse-'))
chmodSync(dir, 0o755)
const dhcp: Dhcp = { mode: 'range', start: '10.77.200.1', end: '10.77.200.100', netmask: '255.255.0.0', router: '10.77.0.1', dns: [] }

test.after(() => rmSync(dir, { recursive: true, force: true }))

test('the nodes that are not up boot as simulated Pis; the one that is up is left alone; every lease is given back', async () => {
  const pis = simulatedPis(4, ['4B', '3B+'], (i) => `dc:a6:32:7e:00:0${i}`)
  const tftpRoot = await demoBootTree(dir, pis, { trimTo: 512 * 1024 })
  const nodes = pis.map((pi, i) => node({ hostname: `r${i}`, mac: pi.mac, ip: `10.77.1.${i + 1}`, model: pi.model }))
  const fleet: Recipe = { ...recipe({ name: 'rehearsed', dhcp, nodes }), publish: [{ nfs: { kind: 'local', path: join(dir, 'nfs') }, tftp: { kind: 'local', path: tftpRoot }, config: { kind: 'local', path: dir } }] as unknown as Recipe['publish'] }
  const conf = join(dir, 'dnsmasq.conf')
  writeFileSync(conf, renderDnsmasqConf(fleet, { tftpRoot }))
  await withLan([{ name: 'srv', address: '10.77.0.1/16' }, { name: 'op', address: '10.77.0.250/16' }, { name: 'up', address: '10.77.1.4/16' }], async (lan) => {
    const dnsmasq = await startStormDnsmasq(lan, conf, mkdtempSync(join(dir, 'dnsmasq-')))
    const { stdout } = await exec(['ip', 'netns', 'exec', lan.ns('op'), process.execPath, RUN], { input: JSON.stringify({ recipes: [fleet], interface: 'eth0' }) })
    const result = JSON.parse(stdout) as Rehearsal
    assert.equal(result.skipped, [{ hostname: 'r3', why: '10.77.1.4 answers ARP' }], 'the node that is up is left alone')
    assert.equal(result.report.nodes.map((n) => n.mac), pis.slice(0, 3).map((p) => p.mac), 'the three others are rehearsed')
    assert.is(result.report.totals.completed, 3, result.report.totals.bottleneck)
    assert.ok(result.compared, 'the files were compared with the published tree')
    const log = dnsmasq.log()
    for (const address of ['10.77.1.1', '10.77.1.2', '10.77.1.3']) assert.match(log, `DHCPRELEASE(eth0) ${address} `, `${address} given back`)
    assert.not.match(log, /DHCP\w+\(eth0\) 10\.77\.1\.4 /, 'nothing asked for the address of the node that is up')
    const { stdout: left } = await exec(['ip', 'netns', 'list'])
    assert.not.match(left, 'pibake-rehearse-', 'the rehearsal\'s namespace is gone')
  })
})

test.run()
