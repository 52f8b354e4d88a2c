/**
 * dnsmasq sized for the fleet: a small fleet's dnsmasq.conf is unchanged, a large one gains
 * tftp-max (what the boot server's link carries, at most 3 per node), dhcp-lease-max and the
 * open-file limit, which the real dnsmasq accepts (--test); what no setting fixes, and the time the
 * fleet takes to come up, is said for `pibake plan`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderDnsmasqConf } from '../../src/netboot/dnsmasq.ts'
import { bringUpSeconds, fleetSizing, linkBytesPerSecond, linkSlots, sizingLimits } from '../../src/netboot/sizing.ts'
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

test('80 nodes: three transfers per node (their bytes take a 1 GbE link 29 s); 1,000 nodes: what the link carries with a 33 MiB kernel (50), leases too, and dnsmasq accepts the file', async () => {
  const eighty = settings(renderDnsmasqConf(recipe({ dhcp: rangeDhcp, nodes: fleet(80) }), { tftpRoot: '/srv/tftp' }))
  assert.ok(eighty.includes('tftp-max=240'), eighty.join('\n'))
  assert.not.ok(eighty.some((line) => line.startsWith('dhcp-lease-max=')), '160 leases: the default 1,000 is enough')
  const big = renderDnsmasqConf(recipe({ dhcp: rangeDhcp, nodes: fleet(1000) }), { tftpRoot: '/srv/tftp' })
  assert.ok(settings(big).includes('tftp-max=50'))
  assert.ok(settings(big).includes('dhcp-lease-max=2000'))
  assert.not.match(big, 'LimitNOFILE', '50 transfers need no more than the usual 1024 open files')
  assert.match(big, "starts its boot again and is served later")
  assert.ok(settings(big).includes('tftp-single-port'), 'capped: requests beyond tftp-max dropped, not queued')
  assert.not.ok(eighty.includes('tftp-single-port'), 'not capped: dnsmasq\'s own port per transfer')
  const dir = mkdtempSync(join(tmpdir(), 'pibake-sizing-'))
  try {
    writeFileSync(join(dir, 'dnsmasq.conf'), big)
    const result = await exec(['dnsmasq', '--test', `--conf-file=${join(dir, 'dnsmasq.conf')}`])
    assert.match(`${result.stdout}${result.stderr}`, 'syntax check OK')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('the bandwidth rule: above 90 s of the fleet\'s bytes on the link, transfers at once = link x 15 s / largest file, never more than 3 per node; open files follow', () => {
  assert.is(linkSlots(), 50, '117 MB/s x 15 s / 33 MiB')
  assert.is(linkSlots({ largestFile: 11_200_000 }), 156, 'a gzip kernel (the shrink): three times the slots')
  assert.is(linkSlots({ linkBytesPerSecond: 1_170_000_000 }), 507, '10 GbE')
  assert.is(linkSlots({ linkBytesPerSecond: 11_700_000 }), 5, '100 Mbit')
  assert.is(fleetSizing(30, 'range', { linkBytesPerSecond: 11_700_000 }).tftpMax, 5, '30 nodes on 100 Mbit (110 s of bytes): below the default')
  assert.is(fleetSizing(20, 'range', { linkBytesPerSecond: 11_700_000 }).tftpMax, 60, '20 nodes on 100 Mbit (74 s of bytes): their files stagger by themselves')
  assert.is(fleetSizing(200, 'range').tftpMax, 600, '200 nodes on 1 GbE (74 s)')
  assert.is(fleetSizing(300, 'range').tftpMax, 50, '300 nodes on 1 GbE (110 s)')
  assert.is(fleetSizing(16, 'range').tftpMax, undefined, '48 transfers: the default')
  assert.is(fleetSizing(4000, 'range', { linkBytesPerSecond: 1_170_000_000 }).tftpMax, 507)
  assert.is(fleetSizing(4000, 'range', { linkBytesPerSecond: 1_170_000_000 }).openFiles, 1064, 'a socket and a file per transfer, and dnsmasq\'s own 50')
  assert.is(fleetSizing(1000, 'range', { linkBytesPerSecond: 11_700_000_000 }).openFiles, 6050, '100 GbE: 3 per node again, and the open files for them')
})

test('what no setting fixes is said: the time to bring the fleet up, the Pi 3s that get one attempt, the open-file limit', () => {
  assert.equal(sizingLimits(40), [], '40 nodes: one 1 GbE server brings them up at once')
  assert.ok(sizingLimits(200).includes('200 nodes powered on at once: about 80 s to bring them all to the kernel hand-off (200 × 43 MB at 117 MB/s, a 1 GbE boot server), every node served at once'), sizingLimits(200).join('\n'))
  assert.ok(sizingLimits(200).some((n) => /dnsmasq needs 1250 open files/.test(n)), 'tftp-max 600: a socket and a file each')
  const notes = sizingLimits(1000)
  assert.ok(notes.some((n) => /about 7 min to bring them all to the kernel hand-off \(1000 × 43 MB at 117 MB\/s, a 1 GbE boot server\)/.test(n)), notes.join('\n'))
  assert.ok(notes.some((n) => /Pi 3B\/3B\+ gets one attempt: power those on first, at most 50 at once/.test(n)), notes.join('\n'))
  assert.ok(sizingLimits(1000, { bytesPerNode: 19_000_000, largestFile: 11_200_000 }).some((n) => /about 3 min .* at most 156 at once/.test(n)), 'the shrink: fewer bytes, more slots')
  assert.ok(sizingLimits(1000, { linkBytesPerSecond: 11_700_000_000 }).some((n) => /LimitNOFILE/.test(n)))
  assert.is(bringUpSeconds(1000), 1000 * 43e6 / 117e6)
})

test('the load it is given: a 10 GbE boot server carries ten times the transfers; shrunk boot files fewer bytes each; the comment says the basis', () => {
  const gigabit = fleetSizing(1000, 'range')
  const tenGig = fleetSizing(1000, 'range', { linkBytesPerSecond: linkBytesPerSecond(10_000) })
  assert.is(gigabit.tftpMax, 50)
  assert.is(tenGig.linkSlots, 507, '1.17 GB/s x 15 s / 33 MiB')
  // 1,000 nodes x 43 MB take 10 GbE 37 s, under the 90 s where the cap starts: three transfers per node.
  assert.is(tenGig.tftpMax, 3000)
  const shrunk = fleetSizing(1000, 'range', { largestFile: 11_538_320, bytesPerNode: 19_088_391 })
  assert.is(shrunk.tftpMax, 152, 'the demo kernel gzip-compressed: 117 MB/s x 15 s / 11.5 MB')
  const conf = renderDnsmasqConf(recipe({ dhcp: rangeDhcp, nodes: fleet(1000) }), { tftpRoot: '/srv/tftp', load: { largestFile: 11_538_320, bytesPerNode: 19_088_391 } })
  assert.ok(settings(conf).includes('tftp-max=152'), conf)
  assert.match(conf, '(152: 1000 Mbit/s link, largest boot file 11.5 MB, 19.1 MB per node per boot)')
})

test.run()
