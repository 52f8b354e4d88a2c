/**
 * The root read set recorded from a real boot, and read back by the storm: `pibake try
 * --record-reads` boots node1 of recipes/cluster-node.ts (built into out/test-cluster-node, as
 * test/recipes/cluster-node.test.ts and test/try/try.test.ts build it: after them this build is
 * live already) under QEMU, fatrace records what ganesha reads of the published tree until the node
 * is running, and `<id>.reads.json` lands beside the build. Then node1, simulated, boots against
 * the site's own published dnsmasq.conf and ganesha.conf and reads that read set over NFS from the
 * published tree: every file there, at its recorded size, its identity folder its own.
 *
 * One QEMU boot (5 to 7 minutes on a loaded 2-core machine).
 */
import { appendFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { readlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import { buildDemoImage } from '../../src/demo/build.ts'
import { stormInNamespace } from '../../src/rehearse/inside.ts'
import { loadReadSet, type ReadSet } from '../../src/rehearse/reads.ts'
import { formatReport } from '../../src/rehearse/report.ts'
import { formatRootTotals } from '../../src/rehearse/root-phase.ts'
import { startNfsServer } from '../helpers/nfs-server.ts'
import { withLan } from '../helpers/netns.ts'
import { startStormDnsmasq } from '../helpers/storm-lan.ts'
import { pibakeTry } from '../try/run.ts'

const ROOT = join(import.meta.dirname, '../..')
const RECIPE = join(ROOT, 'recipes/cluster-node.ts')
const OUT = join(ROOT, 'out/test-cluster-node')
const PUBLISH = join(OUT, 'publish')
const NODE1 = { mac: 'dc:a6:32:00:00:01', ip: '10.42.0.11' }

let id: string
let readSet: ReadSet
const dir = mkdtempSync(join(tmpdir(), 'pibake-root-record-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

test.before(async () => {
  const demo = join(ROOT, 'out/demo')
  mkdirSync(demo, { recursive: true })
  await buildDemoImage({ arch: 'arm64', release: 'bookworm', outDir: demo, onLine: (line) => appendFileSync(join(demo, 'build-bookworm-arm64-root-record.log'), `${line}\n`) })
  const result = await build(RECIPE, { outDir: OUT })
  assert.ok(['published', 'unchanged'].includes(result.summary.result), result.summary.result)
  id = (await readlink(join(PUBLISH, 'nfs/cluster-node/current'))).replace(/^builds\//, '')
})

test('pibake try --record-reads writes the build\'s read set beside it: what ganesha read until multi-user, in order', async () => {
  const run = await pibakeTry([RECIPE, 'node1', '--out', OUT, '--timeout', '900', '--record-reads', '--command', 'true'])
  assert.is(run.code, 0, run.stderr)
  assert.equal(run.left, [])
  const file = join(PUBLISH, 'nfs/cluster-node/builds', `${id}.reads.json`)
  assert.match(run.stderr, `try: read set: `)
  assert.match(run.stderr, file)
  readSet = await loadReadSet(file, id)
  assert.is(readSet.until, 'multi-user: running')
  const paths = readSet.files.map((f) => f.path)
  process.stderr.write(`# read set: ${paths.length} files, ${readSet.files.reduce((sum, f) => sum + f.size, 0)} bytes, recorded over ${readSet.seconds} s\n`)
  const at = (path: string) => paths.indexOf(path)
  assert.ok(at('usr/lib/systemd/systemd') >= 0, 'systemd, the first program the kernel runs from the root')
  assert.ok(at('usr/lib/aarch64-linux-gnu/libc.so.6') > at('usr/lib/systemd/systemd'), 'libc after systemd asked for it')
  assert.ok(at('usr/sbin/sshd') > at('usr/lib/systemd/systemd'), 'sshd, started later')
  assert.ok(at('nodes/<mac>/ssh_host_ed25519_key') >= 0, "node1's host key, from its identity folder")
  assert.is(new Set(paths).size, paths.length, 'each file once')
  for (const entry of readSet.files.filter((f) => !f.path.startsWith('nodes/'))) {
    assert.is(entry.size, lstatSync(join(PUBLISH, 'nfs/cluster-node/builds', id, entry.path)).size, entry.path)
  }
})

test('node1, simulated, reads that read set over NFS from the site as published', async () => {
  await withLan([{ name: 'srv', address: '10.42.0.1/24' }, { name: 'pis' }], async (lan) => {
    await lan.run('pis', ['ip', 'route', 'add', '255.255.255.255/32', 'dev', 'eth0'])
    await startStormDnsmasq(lan, join(PUBLISH, 'dnsmasq.conf'), mkdtempSync(join(dir, 'dnsmasq-')))
    const nfs = await startNfsServer(lan.ns('srv'), { dir: mkdtempSync(join(dir, 'ganesha-')), exports: readFileSync(join(PUBLISH, 'ganesha.conf'), 'utf8') })
    lan.track(nfs.pid)
    lan.track(nfs.rpcbindPid)
    const report = await stormInNamespace(lan.ns('pis'), {
      nodes: [{ mac: NODE1.mac, model: '4B', serial: '32000001' }],
      spreadMs: 0,
      deadlineMs: 600_000,
      device: 'eth0',
      tftpRoot: join(PUBLISH, 'tftp'),
      release: true,
      root: { readSets: [readSet] },
    })
    process.stderr.write(`${[...formatReport(report, { failedNodes: 1 }), ...formatRootTotals(report)].map((line) => `#   ${line}`).join('\n')}\n`)
    const node = report.nodes[0]!
    assert.is(node.error, undefined, JSON.stringify(node.error))
    assert.is(node.address, NODE1.ip)
    assert.equal(node.completed, ['dhcp', 'tftp', 'root'])
    // node1's own identity files are the ones recorded (the recording was node1's): every byte counts.
    assert.is(node.bytes.root, readSet.files.reduce((sum, f) => sum + f.size, 0))
  })
})

test.run()
