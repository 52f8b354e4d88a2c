/**
 * The generated range-mode configuration run by the real dnsmasq in test namespaces, answered by
 * busybox udhcpc imitating the Pi bootloader, then the node's files fetched over TFTP with curl.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderDnsmasqConf } from '../../src/netboot/dnsmasq.ts'
import { CommandError } from '../../src/errors.ts'
import { decodePxe } from '../helpers/dhcp-client.ts'
import { piDhcp as piClientDhcp, tftpGet as piClientTftp } from '../helpers/pi-client.ts'
import { startDnsmasq } from '../helpers/dnsmasq.ts'
import { node, rangeDhcp, recipe } from '../helpers/netboot-recipe.ts'
import { netbootDir, type NetbootDir } from '../helpers/netboot-tree.ts'
import { withLan, type TestLan } from '../helpers/netns.ts'

const SERVER = '10.77.0.1'
const pi4 = node({ hostname: 'node-1', mac: 'dc:a6:32:01:02:03', ip: '10.77.0.11', model: '4B' })
const pi5 = node({ hostname: 'node-2', mac: '2c:cf:67:01:02:04', ip: '10.77.0.12', model: '5' })
const pi3b = node({ hostname: 'old-1', mac: 'b8:27:eb:01:02:05', ip: '10.77.0.13', model: '3B' })
const UNKNOWN_MAC = 'dc:a6:32:99:99:99'

/** The LAN, the published tree and pibake's dnsmasq serving it; everything stopped and removed afterwards. */
async function withRangeServer(fn: (lan: TestLan, tree: NetbootDir, log: () => string) => Promise<void>): Promise<void> {
  const tree = netbootDir()
  try {
    const conf = tree.write('pibake.conf', renderDnsmasqConf(recipe({ dhcp: rangeDhcp, nodes: [pi4, pi5, pi3b], interface: 'eth0' }), { tftpRoot: tree.tftpRoot }))
    await withLan([{ name: 'srv', address: `${SERVER}/24` }, { name: 'cli' }], async (lan) => {
      const dnsmasq = await startDnsmasq(lan, 'srv', conf, tree.dir)
      await fn(lan, tree, dnsmasq.log)
    })
  } finally {
    tree.remove()
  }
}

const piDhcp = (lan: TestLan, tree: NetbootDir, mac: string) => piClientDhcp(lan, 'cli', tree.dir, mac)
const tftpGet = (lan: TestLan, tree: NetbootDir, file: string) => piClientTftp(lan, 'cli', tree.dir, SERVER, file)

const menu = (lease: Record<string, string>) => decodePxe(Buffer.from(lease.opt43 ?? '', 'hex')).menu

test('a node gets its fixed address, host name and the PXE menu, then exactly its own files over TFTP', async () => {
  await withRangeServer(async (lan, tree) => {
    const files = tree.publishNode(pi4.mac, { link: true, kernelBytes: 4 * 1024 * 1024 + 77 })
    tree.write('tftp/cmdline.txt', 'the TFTP root itself: never served to a node that has a directory\n')

    const started = performance.now()
    const lease = await piDhcp(lan, tree, pi4.mac)
    const dhcpMs = performance.now() - started
    assert.ok(lease, 'the node got a lease')
    assert.is(lease.ip, pi4.ip)
    assert.is(lease.hostname, pi4.hostname)
    assert.is(lease.serverid, SERVER)
    assert.is(lease.siaddr, SERVER, 'next server: the TFTP server')
    assert.is(lease.router, '10.77.0.1')
    assert.is(lease.vendor, 'PXEClient')
    assert.equal(menu(lease), [{ type: 0, text: 'Raspberry Pi Boot' }])

    const tftpStarted = performance.now()
    assert.equal(await tftpGet(lan, tree, 'cmdline.txt'), files.cmdline)
    const cmdlineMs = performance.now() - tftpStarted
    const kernelStarted = performance.now()
    assert.equal(await tftpGet(lan, tree, 'kernel8.img'), files.kernel, 'kernel8.img byte for byte')
    const kernelMs = performance.now() - kernelStarted
    try {
      await tftpGet(lan, tree, 'start4.elf')
      assert.unreachable('a file missing from the MAC directory is not found (no fall back to the root)')
    } catch (error) {
      assert.instance(error, CommandError)
    }
    const mib = files.kernel.length / 1024 / 1024
    process.stderr.write(
      `# range mode: DHCP ${dhcpMs.toFixed(0)} ms, cmdline.txt ${cmdlineMs.toFixed(0)} ms, ` +
        `kernel8.img ${mib.toFixed(1)} MiB ${kernelMs.toFixed(0)} ms (${(mib / (kernelMs / 1000)).toFixed(1)} MiB/s, 512-byte blocks)\n`,
    )
  })
})

test('each model gets its own menu text: the Pi 3B with three trailing spaces, the Pi 5 without', async () => {
  await withRangeServer(async (lan, tree) => {
    const old = await piDhcp(lan, tree, pi3b.mac)
    assert.ok(old)
    assert.is(old.ip, pi3b.ip)
    assert.equal(menu(old), [{ type: 0, text: 'Raspberry Pi Boot   ' }])
    await lan.run('cli', ['ip', 'addr', 'flush', 'dev', 'eth0'])
    const pi5Lease = await piDhcp(lan, tree, pi5.mac)
    assert.ok(pi5Lease)
    assert.is(pi5Lease.hostname, pi5.hostname)
    assert.equal(menu(pi5Lease), [{ type: 0, text: 'Raspberry Pi Boot' }])
  })
})

test('an unknown MAC gets no answer at all: no address, no PXE menu', async () => {
  await withRangeServer(async (lan, tree, log) => {
    const lease = await piDhcp(lan, tree, UNKNOWN_MAC)
    assert.is(lease, undefined)
    assert.match(log(), `DHCPDISCOVER(eth0) ${UNKNOWN_MAC} ignored`)
    assert.not.match(log(), new RegExp(`DHCPOFFER\\(eth0\\) \\S+ ${UNKNOWN_MAC}`))
  })
})

test.run()
