/**
 * Which source ports the root phase's NFS connections leave the simulator from
 * (src/rehearse/nfs-client.ts). By default reserved ones, as a Pi's kernel does (the kernel NFS
 * server's `secure` exports refuse others). With `reservedPorts: false`, ordinary ones: every
 * simulated node shares the simulator's address, and libnfs, run as root, binds each connection
 * to one of its ~480 reserved ports and, once they are taken, tries all 512 again per connection
 * (a 1,000-node storm against ganesha, which asks for none, spent minutes of CPU so); the storm's
 * worker then gives up CAP_NET_BIND_SERVICE after binding its DHCP port. Seen from the LAN: the
 * connections to the real ganesha's NFS port while three simulated Pis read their read set,
 * listed with ss in the simulator's namespace.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderDnsmasqConf } from '../../src/netboot/dnsmasq.ts'
import { renderGaneshaExports } from '../../src/netboot/exports.ts'
import type { Dhcp } from '../../src/recipe/types.ts'
import { node, recipe } from '../helpers/netboot-recipe.ts'
import { nfsAddress, rootStormOnLan } from '../helpers/root-lan.ts'
import { demoBootTree, simulatedPis } from '../helpers/storm-lan.ts'

const ID = '20261207-120000-00c0ffee'
const dir = mkdtempSync(join(tmpdir(), 'pibake-root-ports-'))
chmodSync(dir, 0o755)
test.after(() => rmSync(dir, { recursive: true, force: true }))

const dhcp: Dhcp = { mode: 'range', start: '10.77.200.1', end: '10.77.200.100', netmask: '255.255.0.0', router: '10.77.0.1', dns: [] }
const pis = simulatedPis(3, ['5'], (i) => `dc:a6:32:6e:00:${i.toString(16).padStart(2, '0')}`)
const fleet = recipe({ name: 'fleet', dhcp, nodes: pis.map((pi, i) => node({ hostname: `pi${i}`, mac: pi.mac, ip: `10.77.1.${i + 1}`, model: pi.model })) })
const recipeDir = join(dir, 'nfs', 'fleet')
const buildDir = join(recipeDir, 'builds', ID)
/** Large enough that each node's connection stays open for a while (sparse: ganesha reads zeros). */
const BIG = 96 * 1024 * 1024

/** The source ports of the NFS connections of a 3-node storm, seen while it runs. */
async function sourcePorts(reservedPorts: boolean | undefined): Promise<number[]> {
  const ports = new Set<number>()
  const report = await rootStormOnLan({
    conf, tftpRoot, dir, nodes: pis,
    exports: renderGaneshaExports(fleet, { rootPath: recipeDir }),
    cmdline: (server) => `console=serial0,115200 root=/dev/nfs nfsroot=${server}:${buildDir},vers=3 ip=dhcp rootwait ro\n`,
    root: { readSets: [{ version: 1, build: ID, recipe: 'fleet', until: 'multi-user: running', seconds: 40, files: [{ path: 'usr/lib/big', size: BIG }] }], ...(reservedPorts === undefined ? {} : { reservedPorts }) },
    during: async (lan, over) => {
      while (!over.aborted) {
        const { stdout } = await lan.run('pis', ['ss', '-Htn', 'state', 'established', 'dst', nfsAddress(0)])
        for (const line of stdout.split('\n')) {
          const local = /^\S+\s+\S+\s+\S+:(\d+)\s/.exec(line.trim())?.[1]
          if (local) ports.add(Number(local))
        }
        await sleep(50)
      }
    },
  })
  assert.equal(report.nodes.map((n) => n.completed), pis.map(() => ['dhcp', 'tftp', 'root']), 'every node read its read set')
  assert.ok(ports.size > 0, 'the NFS connections were seen')
  return [...ports].sort((a, b) => a - b)
}

let tftpRoot: string
let conf: string

test.before(async () => {
  mkdirSync(join(buildDir, 'usr/lib'), { recursive: true })
  writeFileSync(join(buildDir, 'usr/lib/big'), '')
  truncateSync(join(buildDir, 'usr/lib/big'), BIG)
  tftpRoot = await demoBootTree(join(dir, 'boot'), pis, { trimTo: 64 * 1024 })
  conf = join(dir, 'dnsmasq.conf')
  writeFileSync(conf, renderDnsmasqConf(fleet, { tftpRoot }))
})

test('by default the NFS connections leave the simulator from reserved ports, as a Pi kernel\'s do', async () => {
  const ports = await sourcePorts(undefined)
  assert.equal(ports.filter((port) => port >= 1024), [], `source ports: ${ports.join(', ')}`)
})

test('with reservedPorts false they leave from ordinary ports', async () => {
  const ports = await sourcePorts(false)
  assert.equal(ports.filter((port) => port < 1024), [], `source ports: ${ports.join(', ')}`)
})

test.run()
