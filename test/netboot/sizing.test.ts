/**
 * dnsmasq sized for the fleet: a small fleet's dnsmasq.conf is unchanged, a large one gains
 * tftp-max, dhcp-lease-max and the open-file limit, which the real dnsmasq accepts (--test); what no
 * setting fixes is said for `pibake plan`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderDnsmasqConf } from '../../src/netboot/dnsmasq.ts'
import { fleetSizing, sizingLimits } from '../../src/netboot/sizing.ts'
import { exec } from '../../src/system/exec.ts'
import { node, proxyDhcp, rangeDhcp, recipe } from '../helpers/netboot-recipe.ts'

function fleet(count: number) {
  return Array.from({ length: count }, (_, i) => node({ hostname: `n${i}`, mac: `dc:a6:32:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, ip: `10.77.${1 + (i >> 8)}.${(i & 0xff) + 1}`, model: '4B' }))
}

function settings(conf: string): string[] {
  return conf.split('\n').filter((line) => line && !line.startsWith('#'))
}

test('a fleet dnsmasq\'s defaults serve gains no line', () => {
  const conf = renderDnsmasqConf(recipe({ dhcp: rangeDhcp, nodes: fleet(16) }), { tftpRoot: '/srv/tftp' })
  assert.not.match(conf, /tftp-max|dhcp-lease-max|LimitNOFILE/)
})

test('80 nodes: tftp-max three transfers per node; 1,000 nodes: leases and open files too, and dnsmasq accepts the file', async () => {
  const eighty = settings(renderDnsmasqConf(recipe({ dhcp: rangeDhcp, nodes: fleet(80) }), { tftpRoot: '/srv/tftp' }))
  assert.ok(eighty.includes('tftp-max=240'), 'above dnsmasq\'s 50')
  assert.not.ok(eighty.some((line) => line.startsWith('dhcp-lease-max=')), '160 leases: the default 1,000 is enough')
  const big = renderDnsmasqConf(recipe({ dhcp: rangeDhcp, nodes: fleet(1000) }), { tftpRoot: '/srv/tftp' })
  assert.ok(settings(big).includes('tftp-max=3000'))
  assert.ok(settings(big).includes('dhcp-lease-max=2000'))
  assert.match(big, '#   LimitNOFILE=3050\n', 'the unit drop-in that lets dnsmasq keep tftp-max')
  assert.match(big, 'prlimit --nofile=3050:3050 -- dnsmasq')
  assert.not.match(renderDnsmasqConf(recipe({ dhcp: proxyDhcp, nodes: fleet(1000) }), { tftpRoot: '/srv/tftp' }), 'dhcp-lease-max', 'proxy DHCP holds no leases')
  const dir = mkdtempSync(join(tmpdir(), 'pibake-sizing-'))
  try {
    writeFileSync(join(dir, 'dnsmasq.conf'), big)
    const result = await exec(['dnsmasq', '--test', `--conf-file=${join(dir, 'dnsmasq.conf')}`])
    assert.match(`${result.stdout}${result.stderr}`, 'syntax check OK')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('what no setting fixes is said: the bytes within the firmware\'s 30 s, the open-file limit', () => {
  assert.equal(sizingLimits(40), [], '40 nodes: one 1 GbE server brings them up')
  const notes = sizingLimits(1000)
  assert.ok(notes.some((n) => /LimitNOFILE/.test(n)), notes.join('\n'))
  assert.ok(notes.some((n) => /power them on in groups of at most \d+/.test(n)), notes.join('\n'))
  assert.is(fleetSizing(1000, 'range').openFiles, 3050)
})

test.run()
