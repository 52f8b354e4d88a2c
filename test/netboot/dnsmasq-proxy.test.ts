/**
 * The generated proxy-mode configuration run by the real dnsmasq beside an ordinary DHCP server (a
 * second, plain dnsmasq) on one test LAN. A small Node DHCP client collects every answer to one
 * DISCOVER shaped like the Pi bootloader's: the address comes from the ordinary server, the boot
 * answer from pibake's proxy, and only for the recipe's MACs.
 */
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderDnsmasqConf } from '../../src/netboot/dnsmasq.ts'
import { readFileSync } from 'node:fs'
import type { Offer } from '../helpers/dhcp-client.ts'
import { startDnsmasq } from '../helpers/dnsmasq.ts'
import { node, proxyDhcp, recipe } from '../helpers/netboot-recipe.ts'
import { netbootDir, type NetbootDir } from '../helpers/netboot-tree.ts'
import { withLan, type TestLan } from '../helpers/netns.ts'

const PIBAKE = '10.77.0.1'
const ROUTER = '10.77.0.254'
const pi4 = node({ hostname: 'node-1', mac: 'dc:a6:32:01:02:03', ip: '10.77.0.11', model: '4B' })
const pi3b = node({ hostname: 'old-1', mac: 'b8:27:eb:01:02:05', ip: '10.77.0.13', model: '3B' })
const UNKNOWN_MAC = 'dc:a6:32:99:99:99'
const CLIENT = join(import.meta.dirname, '..', 'helpers', 'dhcp-client.ts')

/** The ordinary DHCP server of the LAN: plain dnsmasq, nothing about booting. */
const PLAIN_DHCP = ['port=0', 'bind-dynamic', 'log-dhcp', 'no-ping', 'dhcp-range=10.77.0.50,10.77.0.60,255.255.255.0,1h', `dhcp-option=option:router,${ROUTER}`, '']

interface Servers {
  readonly lan: TestLan
  readonly tree: NetbootDir
  readonly proxyLog: () => string
}

async function withProxyLan(fn: (servers: Servers) => Promise<void>): Promise<void> {
  const tree = netbootDir()
  try {
    const conf = tree.write('pibake.conf', renderDnsmasqConf(recipe({ dhcp: proxyDhcp, nodes: [pi4, pi3b] }), { tftpRoot: tree.tftpRoot }))
    const plain = tree.write('plain.conf', PLAIN_DHCP.join('\n'))
    const hosts = [{ name: 'srv', address: `${PIBAKE}/24` }, { name: 'router', address: `${ROUTER}/24` }, { name: 'cli' }]
    await withLan(hosts, async (lan) => {
      const proxy = await startDnsmasq(lan, 'srv', conf, tree.dir)
      await startDnsmasq(lan, 'router', plain, tree.dir)
      await fn({ lan, tree, proxyLog: proxy.log })
    })
  } finally {
    tree.remove()
  }
}

async function offers(lan: TestLan, mac: string): Promise<Offer[]> {
  await lan.setMac('cli', mac)
  // The client has no address yet: give its broadcasts a way out of eth0 (the link going down for
  // the new MAC took any earlier route with it).
  await lan.run('cli', ['ip', 'route', 'replace', '255.255.255.255/32', 'dev', 'eth0'])
  const { stdout } = await lan.run('cli', [process.execPath, CLIENT, '--mac', mac, '--timeout', '1'])
  return (JSON.parse(stdout) as { offers: Offer[] }).offers
}

test('a node gets its address from the ordinary DHCP server and the boot answer from the proxy', async () => {
  await withProxyLan(async ({ lan }) => {
    const started = performance.now()
    const answers = await offers(lan, pi4.mac)
    const arrivals = answers.map((o) => `${o.serverId} after ${o.afterMs} ms`).join(', ')
    process.stderr.write(`# proxy mode: one DISCOVER, offers from ${arrivals}; client run ${(performance.now() - started).toFixed(0)} ms (1 s listening)\n`)
    assert.is(answers.length, 2, JSON.stringify(answers))

    const address = answers.find((o) => o.serverId === ROUTER)
    assert.ok(address, 'an offer from the ordinary DHCP server')
    assert.is(address.messageType, 'OFFER')
    assert.match(address.yiaddr, /^10\.77\.0\.(5\d|60)$/)
    assert.is(address.options['3'], ROUTER)
    assert.is(address.pxe, undefined, 'the ordinary server says nothing about booting')

    const boot = answers.find((o) => o.serverId === PIBAKE)
    assert.ok(boot, 'an offer from the proxy')
    assert.is(boot.messageType, 'OFFER')
    assert.is(boot.yiaddr, '0.0.0.0', 'proxy DHCP offers no address')
    assert.is(boot.options['60'], 'PXEClient')
    assert.equal(boot.pxe?.menu, [{ type: 0, text: 'Raspberry Pi Boot' }])
  })
})

test('the Pi 3B gets the menu text with three trailing spaces from the proxy', async () => {
  await withProxyLan(async ({ lan }) => {
    const boot = (await offers(lan, pi3b.mac)).find((o) => o.serverId === PIBAKE)
    assert.equal(boot?.pxe?.menu, [{ type: 0, text: 'Raspberry Pi Boot   ' }])
  })
})

test('an unknown MAC gets its address from the ordinary server and nothing from the proxy', async () => {
  await withProxyLan(async ({ lan, proxyLog }) => {
    const answers = await offers(lan, UNKNOWN_MAC)
    assert.equal(answers.map((o) => o.serverId), [ROUTER])
    assert.match(proxyLog(), `PXE(eth0) ${UNKNOWN_MAC} proxy-ignored`)
  })
})

test('with the address from the ordinary server, the node fetches its own files from the proxy over TFTP', async () => {
  await withProxyLan(async ({ lan, tree }) => {
    const files = tree.publishNode(pi4.mac, { link: true })
    const address = (await offers(lan, pi4.mac)).find((o) => o.serverId === ROUTER)
    assert.ok(address)
    await lan.run('cli', ['ip', 'addr', 'add', `${address.yiaddr}/24`, 'dev', 'eth0'])
    for (const [name, content] of [['cmdline.txt', files.cmdline], ['kernel8.img', files.kernel]] as const) {
      const out = join(tree.dir, `fetched-${name}`)
      await lan.run('cli', ['curl', '--silent', '--show-error', '--max-time', '10', '--output', out, `tftp://${PIBAKE}/${name}`])
      assert.equal(readFileSync(out), content, name)
    }
  })
})

test.run()
