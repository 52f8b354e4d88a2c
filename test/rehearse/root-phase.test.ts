/**
 * The storm's root phase against real nfs-ganesha in network namespaces: simulated Pis boot to the
 * kernel hand-off (real dnsmasq, the demo's boot files cut small), then each reads a small fixture
 * read set over NFS with libnfs, from the server and path its own cmdline.txt names, its identity
 * file from its own folder. The exports are the ones pibake renders for the fleet (ganesha EXPORT
 * blocks), fed to the real server. A file the server lacks, and a file whose size is not the
 * recorded one, fail the node with that file named; a node sent to a server that does not export
 * the build fails its mount, while the nodes of the other server read theirs.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderDnsmasqConf } from '../../src/netboot/dnsmasq.ts'
import { renderGaneshaExports } from '../../src/netboot/exports.ts'
import { macDir } from '../../src/netboot/layout.ts'
import type { SimulatedPi } from '../../src/rehearse/dhcp-client.ts'
import type { ReadSet } from '../../src/rehearse/reads.ts'
import { formatReport } from '../../src/rehearse/report.ts'
import { formatRootTotals, rootTotals } from '../../src/rehearse/root-phase.ts'
import type { StormReport } from '../../src/rehearse/storm.ts'
import type { Dhcp } from '../../src/recipe/types.ts'
import { node, recipe } from '../helpers/netboot-recipe.ts'
import { rootStormOnLan } from '../helpers/root-lan.ts'
import { demoBootTree, simulatedPis } from '../helpers/storm-lan.ts'

const ID = '20261201-101010-0123abcd'
const dir = mkdtempSync(join(tmpdir(), 'pibake-root-phase-'))
chmodSync(dir, 0o755)
test.after(() => rmSync(dir, { recursive: true, force: true }))

const dhcp: Dhcp = { mode: 'range', start: '10.77.200.1', end: '10.77.200.100', netmask: '255.255.0.0', router: '10.77.0.1', dns: [] }
const pis = simulatedPis(6, ['4B', '3B+', '5'], (i) => `dc:a6:32:5f:00:${i.toString(16).padStart(2, '0')}`)
const fleet = recipe({ name: 'fleet', dhcp, nodes: pis.map((pi, i) => node({ hostname: `pi${i}`, mac: pi.mac, ip: `10.77.1.${i + 1}`, model: pi.model })) })
const recipeDir = join(dir, 'nfs', 'fleet')
const buildDir = join(recipeDir, 'builds', ID)
/** The build's files a boot reads, in order (sizes: a small file, one over libnfs's 128 KiB piece, an empty one). */
const FILES: Record<string, number> = { 'usr/lib/systemd/systemd': 200_000, 'usr/lib/aarch64-linux-gnu/libc.so.6': 1_300_000, 'etc/hostname': 5, 'etc/machine-id': 0 }
const cmdline = (server: string) => `console=serial0,115200 root=/dev/nfs nfsroot=${server}:${buildDir},vers=3 ip=dhcp rootwait ro\n`

function readSet(extra: ReadSet['files'] = []): ReadSet {
  return { version: 1, build: ID, recipe: 'fleet', until: 'multi-user: running', seconds: 40, files: [...Object.entries(FILES).map(([path, size]) => ({ path, size })), { path: 'nodes/<mac>/hostname', size: 4 }, ...extra] }
}

function exportsFor(nodes: readonly SimulatedPi[]): string {
  // Identity folders exported to the fleet's subnet: libnfs cannot choose its source address, so
  // every simulated node's NFS traffic comes from one address of the simulator (root-phase.ts).
  return renderGaneshaExports(fleet, { rootPath: recipeDir, nodes: nodes.map((pi) => ({ path: join(recipeDir, 'nodes', macDir(pi.mac)) })) })
}

let tftpRoot: string
let conf: string

test.before(async () => {
  for (const [path, size] of Object.entries(FILES)) {
    mkdirSync(join(buildDir, path, '..'), { recursive: true })
    writeFileSync(join(buildDir, path), Buffer.alloc(size, 0x5a))
  }
  writeFileSync(join(buildDir, 'etc/short'), 'x')
  for (const [i, pi] of pis.entries()) {
    mkdirSync(join(recipeDir, 'nodes', macDir(pi.mac)), { recursive: true })
    writeFileSync(join(recipeDir, 'nodes', macDir(pi.mac), 'hostname'), `pi${i}\n`)
  }
  tftpRoot = await demoBootTree(join(dir, 'boot'), pis, { trimTo: 256 * 1024 })
  conf = join(dir, 'dnsmasq.conf')
  writeFileSync(conf, renderDnsmasqConf(fleet, { tftpRoot }))
})

function show(name: string, report: StormReport): void {
  process.stderr.write(`# ${name}\n${[...formatReport(report, { failedNodes: 6 }), ...formatRootTotals(report)].map((line) => `#   ${line}`).join('\n')}\n`)
}

test("every node reads its build's read set over NFS, as its cmdline mounts it, and its own identity file", async () => {
  const report = await rootStormOnLan({ conf, tftpRoot, dir, nodes: pis, exports: exportsFor(pis), cmdline, root: { readSets: [readSet()] } })
  show('one server', report)
  assert.equal(report.nodes.filter((n) => n.error).map((n) => `${n.model} ${n.error!.phase} ${n.error!.file ?? ''} ${n.error!.what}`), [])
  assert.equal(report.nodes.map((n) => n.completed), pis.map(() => ['dhcp', 'tftp', 'root']))
  assert.equal(report.nodes.map((n) => n.mac).sort(), pis.map((pi) => pi.mac).sort())
  const build = Object.values(FILES).reduce((a, b) => a + b, 0)
  // Each node's hostname file is its own: "pi0\n" is 4 bytes, as every one here.
  assert.equal(report.nodes.map((n) => n.bytes.root), pis.map(() => build + 4), 'each node read every byte of the read set')
  const totals = rootTotals(report)
  assert.is(totals.done, pis.length)
  assert.ok(totals.p50! <= totals.p95! && totals.p95! <= totals.max!, 'p50 ≤ p95 ≤ max')
  assert.ok(report.nodes.every((n) => totals.max! >= n.handoff!), 'the read set is done after the hand-off')
  assert.is(totals.bytes, pis.length * (build + 4))
})

test('a file the server lacks, or one of another size than recorded, fails the node with that file named', async () => {
  const missing = readSet([{ path: 'usr/bin/not-there', size: 10 }])
  const resized = { ...readSet([{ path: 'etc/short', size: 2 }]), build: ID }
  const nodes = pis.slice(0, 2)
  const gone = await rootStormOnLan({ conf, tftpRoot, dir, nodes, exports: exportsFor(nodes), cmdline, root: { readSets: [missing] } })
  show('a file missing', gone)
  for (const n of gone.nodes) {
    assert.is(n.error?.phase, 'root')
    assert.is(n.error?.file, 'usr/bin/not-there')
    assert.match(n.error!.what, /NFS3ERR_NOENT/)
  }
  const stale = await rootStormOnLan({ conf, tftpRoot, dir, nodes, exports: exportsFor(nodes), cmdline, root: { readSets: [resized] } })
  for (const n of stale.nodes) assert.equal(n.error, { phase: 'root', file: 'etc/short', what: '1 bytes, where the read set recorded 2: the read set is not this build\'s' })
})

test("two servers: each node mounts the one its cmdline names; a server that does not export the build fails its nodes' mounts alone", async () => {
  const nodes = pis.slice(0, 4)
  // Server 1 exports another folder: the nodes its cmdline sends there cannot mount the build.
  const elsewhere = join(dir, 'elsewhere')
  mkdirSync(elsewhere, { recursive: true })
  const other = renderGaneshaExports({ ...fleet, name: 'other' }, { rootPath: elsewhere })
  const report = await rootStormOnLan({ conf, tftpRoot, dir, nodes, servers: 2, exports: [exportsFor(nodes), other], cmdline, root: { readSets: [readSet()] } })
  show('two servers, the second without the export', report)
  const byMac = (pi: SimulatedPi) => report.nodes.find((n) => n.mac === pi.mac)!
  assert.equal(nodes.map((pi) => byMac(pi).completed.includes('root')), [true, true, false, false], 'nodes 0 and 1 on server 0; 2 and 3 on server 1')
  for (const n of [byMac(nodes[2]!), byMac(nodes[3]!)]) {
    assert.is(n.error?.phase, 'root')
    assert.match(n.error!.what, /^mount 10\.77\.0\.3:\//)
  }
})

test.run()
