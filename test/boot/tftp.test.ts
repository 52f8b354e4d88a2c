/**
 * DHCP and TFTP against a real published build: the demo image baked and published by `build()`,
 * the dnsmasq.conf that publish wrote run unchanged by the real dnsmasq in a test namespace (its
 * tftp-root is the published TFTP tree, where each node's MAC directory is a symlink into
 * builds/<recipe>/<id>/), and a client in another namespace that asks like the Pi boot ROM.
 */
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { CommandError } from '../../src/errors.ts'
import type { Node } from '../../src/recipe/types.ts'
import { exec } from '../../src/system/exec.ts'
import { decodePxe, PI_VENDOR_CLASS, type Offer } from '../helpers/dhcp-client.ts'
import { startDnsmasq } from '../helpers/dnsmasq.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { withLan, type TestLan } from '../helpers/netns.ts'
import { FLEET, publishDemoBuild, type PublishedBuild } from './published.ts'

const DHCP_CLIENT = join(import.meta.dirname, '..', 'helpers', 'dhcp-client.ts')
const UNKNOWN_MAC = 'dc:a6:32:99:99:99'

let published: PublishedBuild
const nodes = () => published.recipe.nodes

test.before(async () => {
  // uvu counts a failing before hook as failed tests but never prints why: say it here.
  published = await publishDemoBuild('tftp-test').catch((error: unknown) => {
    process.stderr.write(`TFTP test setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  })
  process.stderr.write(`# demo image ${published.seconds.image.toFixed(0)} s, build + publish ${published.seconds.build.toFixed(0)} s\n`)
})

test.after(async () => {
  if (!published) return
  const left = await leftBehind(published.dir)
  await published.remove()
  assert.equal(left, [], 'no loop device or mount is left behind')
})

/**
 * The LAN (server with pibake's published dnsmasq.conf, one client), torn down afterwards. Each
 * dnsmasq gets a folder of its own: startDnsmasq() takes an existing pid file and a log that says
 * "started" for a dnsmasq that is ready, so an earlier run's files would stand in for this one.
 */
async function withServer(fn: (lan: TestLan, log: () => string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(published.dir, 'dnsmasq-'))
  await withLan([{ name: 'srv', address: `${FLEET.server}/24` }, { name: 'cli' }], async (lan) => {
    const dnsmasq = await startDnsmasq(lan, 'srv', join(published.publish, 'dnsmasq.conf'), dir)
    await fn(lan, dnsmasq.log)
  })
}

/**
 * busybox udhcpc asking as the Pi boot ROM does (option 93 = 0, the PXEClient vendor class, option
 * 43 requested). Returns what udhcpc hands its script on `bound` (it also puts the address on
 * eth0), or undefined when nobody answered.
 */
async function piLease(lan: TestLan, mac: string): Promise<Record<string, string> | undefined> {
  await lan.setMac('cli', mac)
  await lan.run('cli', ['ip', 'addr', 'flush', 'dev', 'eth0'])
  const envFile = join(published.dir, `lease-${mac.replaceAll(':', '')}.env`)
  rmSync(envFile, { force: true })
  const script = join(published.dir, 'udhcpc.sh')
  writeFileSync(script, `#!/bin/sh\n[ "$1" = bound ] || exit 0\nenv > "${envFile}"\nip addr add "$ip/$mask" dev "$interface"\n`)
  chmodSync(script, 0o755)
  const argv = ['busybox', 'udhcpc', '-f', '-q', '-n', '-i', 'eth0', '-t', '3', '-T', '1', '-O', '43', '-x', '0x5d:0000', '-V', PI_VENDOR_CLASS, '-s', script]
  const result = await lan.run('cli', argv, { okCodes: [1] })
  if (result.exitCode !== 0 || !existsSync(envFile)) return undefined
  const lines = readFileSync(envFile, 'utf8').split('\n').filter((line) => line.includes('='))
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]))
}

/** Fetches a file over TFTP with curl (binary mode, 512-byte blocks like a plain TFTP client). */
async function tftpGet(lan: TestLan, file: string): Promise<Buffer> {
  const out = join(published.dir, 'fetched')
  rmSync(out, { force: true })
  await lan.run('cli', ['curl', '--silent', '--show-error', '--max-time', '120', '--output', out, `tftp://${FLEET.server}/${file}`])
  return readFileSync(out)
}

function publishedFile(node: Node, file: string): Buffer {
  return readFileSync(join(published.tftpDir(node), file))
}

test('the published dnsmasq.conf passes dnsmasq --test and serves the published TFTP tree', async () => {
  const conf = join(published.publish, 'dnsmasq.conf')
  const result = await exec(['dnsmasq', '--test', `--conf-file=${conf}`])
  assert.match(`${result.stdout}${result.stderr}`, 'syntax check OK')
  const text = readFileSync(conf, 'utf8')
  assert.match(text, `tftp-root=${published.tftp}\n`)
  assert.match(text, 'tftp-unique-root=mac')
  for (const node of nodes()) {
    // The layout under test: the MAC directory is a symlink into this build's boot files.
    const link = join(published.tftp, node.mac.replaceAll(':', '-'))
    assert.ok(lstatSync(link).isSymbolicLink(), `${link} is a symlink`)
    assert.is(readlinkSync(link), join('builds', published.recipe.name, published.id, node.mac.replaceAll(':', '-')))
  }
})

test("each node gets its address, host name and the PXE menu, then its own files over TFTP through its symlinked MAC directory", async () => {
  await withServer(async (lan) => {
    for (const [index, node] of nodes().entries()) {
      const started = performance.now()
      const lease = await piLease(lan, node.mac)
      const dhcpMs = performance.now() - started
      assert.ok(lease, `${node.hostname} got a lease`)
      assert.is(lease.ip, node.ip)
      assert.is(lease.hostname, node.hostname)
      assert.is(lease.serverid, FLEET.server)
      assert.is(lease.siaddr, FLEET.server, 'next server: the TFTP server')
      assert.is(lease.vendor, 'PXEClient')
      assert.equal(decodePxe(Buffer.from(lease.opt43 ?? '', 'hex')).menu, [{ type: 0, text: 'Raspberry Pi Boot' }])

      const cmdline = await tftpGet(lan, 'cmdline.txt')
      assert.equal(cmdline, publishedFile(node, 'cmdline.txt'), `${node.hostname}: cmdline.txt byte for byte`)
      assert.match(cmdline.toString(), `pibake.node=${node.hostname}`, 'the node\'s own cmdline.txt')
      assert.match(cmdline.toString(), `nfsroot=${FLEET.nfsServer}:${published.root},vers=3`)
      if (index > 0) continue
      const kernelStarted = performance.now()
      const kernel = await tftpGet(lan, 'kernel8.img')
      const kernelMs = performance.now() - kernelStarted
      assert.ok(kernel.length > 1024 * 1024, 'a real kernel')
      assert.equal(kernel, publishedFile(node, 'kernel8.img'), 'kernel8.img byte for byte')
      try {
        await tftpGet(lan, 'no-such-file')
        assert.unreachable('a file missing from the MAC directory is not found')
      } catch (error) {
        assert.instance(error, CommandError)
      }
      const mib = kernel.length / 1024 / 1024
      process.stderr.write(`# ${node.hostname}: DHCP ${dhcpMs.toFixed(0)} ms; kernel8.img ${mib.toFixed(1)} MiB over TFTP in ${kernelMs.toFixed(0)} ms\n`)
    }
  })
})

test('an unknown MAC gets no answer at all: no address, no PXE menu', async () => {
  await withServer(async (lan, log) => {
    await lan.setMac('cli', UNKNOWN_MAC)
    await lan.run('cli', ['ip', 'addr', 'flush', 'dev', 'eth0'])
    await lan.run('cli', ['ip', 'route', 'replace', '255.255.255.255/32', 'dev', 'eth0'])
    const { stdout } = await lan.run('cli', ['timeout', '20', process.execPath, DHCP_CLIENT, '--mac', UNKNOWN_MAC, '--timeout', '2'])
    const offers = (JSON.parse(stdout) as { offers: Offer[] }).offers
    assert.equal(offers, [], 'no offer of any kind')
    assert.match(log(), `DHCPDISCOVER(eth0) ${UNKNOWN_MAC} ignored`)
  })
})

test.run()
