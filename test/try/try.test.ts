/**
 * `pibake try`, as the README's first hour uses it: the demo recipe (recipes/cluster-node.ts) built
 * as the demo builds it, and one of its nodes booted under QEMU behind the site's published
 * dnsmasq.conf and ganesha.conf, run as a person runs it; a node of the trixie demo image on its
 * serial console; Ctrl-C during a boot. The armhf image is tried in test/init/demo-build.test.ts, on
 * the recipe pibake init wrote for it. Every run must leave no namespace, process or folder behind.
 *
 * The bookworm build goes to out/test-cluster-node, as test/recipes/cluster-node.test.ts builds the
 * same recipe there (the files run one after another): after it, this build is the live one already.
 * Its boot also records the build's root read set (`--record-reads`: what ganesha read of the
 * published tree until the node was running, in order), which a simulated node1 then reads back
 * over NFS from the site as published (src/rehearse's root phase): one boot proves both.
 */
import { appendFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, readlink, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import { clean } from '../../src/clean.ts'
import { buildDemoImage, type DemoRelease } from '../../src/demo/build.ts'
import { stormInNamespace } from '../../src/rehearse/inside.ts'
import { loadReadSet, type ReadSet } from '../../src/rehearse/reads.ts'
import { formatReport } from '../../src/rehearse/report.ts'
import { formatRootTotals } from '../../src/rehearse/root-phase.ts'
import { seedDecompressedImage } from '../helpers/demo-cache.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { withLan } from '../helpers/netns.ts'
import { startNfsServer } from '../helpers/nfs-server.ts'
import { startStormDnsmasq } from '../helpers/storm-lan.ts'
import { pibakeTry, signalGroup, waitForOutput } from './run.ts'

const ROOT = join(import.meta.dirname, '../..')
const DEMO_DIR = join(ROOT, 'out/demo')
const RECIPE = join(ROOT, 'recipes/cluster-node.ts')
/** QEMU boots take 40 s on an idle machine and over 5 minutes on a loaded one: a limit, not a benchmark. */
const TIMEOUT_S = '900'

const SHARED_OUT = join(ROOT, 'out/test-cluster-node')

let dir: string
let bookworm: { out: string; id: string }
let trixie: { out: string; file: string; id: string }
/** node1's boot's root read set, recorded by the first test. */
let readSet: ReadSet | undefined
const NODE1 = { mac: 'dc:a6:32:00:00:01', ip: '10.42.0.11' }

test.before(async () => {
  // uvu counts a failing before hook as failed tests but never prints why: say it here.
  await setup().catch((error: unknown) => {
    process.stderr.write(`try test setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  })
})

async function setup(): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), 'pibake-try-test-'))
  await demoImage('bookworm')
  bookworm = await published(RECIPE, SHARED_OUT, 'cluster-node')
  const image = await demoImage('trixie')
  const file = join(dir, 'recipes', 'trixie-node.ts')
  mkdirSync(join(dir, 'recipes'), { recursive: true })
  writeFileSync(file, trixieRecipe(image.xz, image.sha256File))
  await seedDecompressedImage(join(dir, 'out-trixie'), image)
  trixie = { ...(await published(file, join(dir, 'out-trixie'), 'trixie-node')), file }
}

test.after(async () => {
  await clean(join(dir, 'out-trixie')).catch(() => undefined)
  await rm(dir, { recursive: true, force: true })
})

test("bookworm arm64: node1 of recipes/cluster-node.ts comes up running, every phase seen, nothing left", async () => {
  const run = await pibakeTry([RECIPE, 'node1', '--out', bookworm.out, '--timeout', TIMEOUT_S, '--record-reads', '--command', 'systemctl is-system-running --wait'])
  assert.is(run.code, 0, run.stderr)
  assert.is(run.stdout.trim(), 'running')
  const phases = [
    /try: lease: 10\.42\.0\.11 from 10\.42\.0\.1 with the PXE boot menu/,
    /try: tftp: config\.txt .*as published/,
    /try: tftp: kernel8\.img .*as published/,
    /try: tftp: initramfs8 .*as published/,
    /try: kernel: kernel8\.img \+ initramfs8 under qemu-system-aarch64/,
    /try: dhcp: the kernel took 10\.42\.0\.11 from dnsmasq/,
    new RegExp(`try: root: 10\\.42\\.0\\.1:${bookworm.out}/publish/nfs/cluster-node/builds/${bookworm.id} nfs +ro,`),
    /try: failed units: none \(running\)/,
  ]
  let from = 0
  for (const phase of phases) {
    const at = run.stderr.slice(from).search(phase)
    assert.ok(at >= 0, `${phase} after the phases before it, in:\n${run.stderr}`)
    from += at
  }
  assert.equal(run.left, [])
  const builds = join(bookworm.out, 'publish/nfs/cluster-node/builds')
  assert.match(run.stderr, `try: read set: `)
  assert.match(run.stderr, join(builds, `${bookworm.id}.reads.json`))
  readSet = await loadReadSet(join(builds, `${bookworm.id}.reads.json`), bookworm.id)
})

test("the boot's root read set is beside the build: what ganesha read until multi-user, in the order it read it", () => {
  if (!readSet) throw new Error('no read set: the boot above did not record one')
  assert.is(readSet.until, 'multi-user: running')
  const paths = readSet.files.map((f) => f.path)
  process.stderr.write(`# read set: ${paths.length} files, ${readSet.files.reduce((sum, f) => sum + f.size, 0)} bytes, recorded over ${readSet.seconds} s\n`)
  const at = (path: string) => paths.indexOf(path)
  assert.ok(at('usr/lib/systemd/systemd') >= 0, 'systemd, the first program the kernel runs from the root')
  assert.ok(at('usr/lib/aarch64-linux-gnu/libc.so.6') > at('usr/lib/systemd/systemd'), 'libc after systemd asked for it')
  assert.ok(at('usr/sbin/sshd') > at('usr/lib/systemd/systemd'), 'sshd, started later')
  assert.ok(at('nodes/<mac>/ssh_host_ed25519_key') >= 0, "node1's host key, from its identity folder")
  assert.is(new Set(paths).size, paths.length, 'each file once')
  const builds = join(bookworm.out, 'publish/nfs/cluster-node/builds')
  for (const entry of readSet.files.filter((f) => !f.path.startsWith('nodes/'))) {
    assert.is(entry.size, lstatSync(join(builds, bookworm.id, entry.path)).size, entry.path)
  }
})

test('node1, simulated, reads that read set over NFS from the site as published (dnsmasq.conf, ganesha.conf)', async () => {
  const recorded = readSet
  if (!recorded) throw new Error('no read set: the boot above did not record one')
  const publish = join(bookworm.out, 'publish')
  await withLan([{ name: 'srv', address: '10.42.0.1/24' }, { name: 'pis' }], async (lan) => {
    await lan.run('pis', ['ip', 'route', 'add', '255.255.255.255/32', 'dev', 'eth0'])
    await startStormDnsmasq(lan, join(publish, 'dnsmasq.conf'), mkdtempSync(join(dir, 'dnsmasq-')))
    const nfs = await startNfsServer(lan.ns('srv'), { dir: mkdtempSync(join(dir, 'ganesha-')), exports: readFileSync(join(publish, 'ganesha.conf'), 'utf8') })
    lan.track(nfs.pid)
    lan.track(nfs.rpcbindPid)
    const report = await stormInNamespace(lan.ns('pis'), {
      nodes: [{ mac: NODE1.mac, model: '4B', serial: '32000001' }],
      spreadMs: 0,
      deadlineMs: 600_000,
      device: 'eth0',
      tftpRoot: join(publish, 'tftp'),
      release: true,
      root: { readSets: [recorded] },
    })
    process.stderr.write(`${[...formatReport(report, { failedNodes: 1 }), ...formatRootTotals(report)].map((line) => `#   ${line}`).join('\n')}\n`)
    const node = report.nodes[0]!
    assert.is(node.error, undefined, JSON.stringify(node.error))
    assert.is(node.address, NODE1.ip)
    assert.equal(node.completed, ['dhcp', 'tftp', 'root'])
    // node1's own identity files are the ones recorded (the recording was node1's): every byte counts.
    assert.is(node.bytes.root, recorded.files.reduce((sum, f) => sum + f.size, 0))
  })
})

test('trixie arm64 on the serial console: logged in as the demo user, the system is running; Ctrl-] leaves', async () => {
  const run = await pibakeTry([trixie.file, 'trixie1', '--out', trixie.out, '--timeout', TIMEOUT_S, '--console'], async (child) => {
    await waitForOutput(child.stdout, /trixie1 login: $/m, Number(TIMEOUT_S))
    child.write('pi\r')
    await waitForOutput(child.stdout, /Password: ?$/m, 60)
    child.write('raspberry\r')
    await waitForOutput(child.stdout, /pi@trixie1:~\$ $/m, 120)
    child.write('systemctl is-system-running --wait; echo "state-$((6*7))"\r')
    await waitForOutput(child.stdout, /^\w+\s*\r?\nstate-42/m, 600)
    child.write('\x1d')
  })
  assert.is(run.code, 0, run.stderr)
  assert.match(run.stdout, /^running\s*\r?\nstate-42/m)
  assert.match(run.stderr, /try: kernel: kernel8\.img \+ initramfs8 under qemu-system-aarch64/)
  assert.match(run.stderr, new RegExp(`try: console: attached`))
  assert.equal(run.left, [])
})

test('Ctrl-C while the node boots stops QEMU and the servers and removes the LAN', async () => {
  const run = await pibakeTry([RECIPE, 'node1', '--out', bookworm.out, '--command', 'true'], async (child) => {
    await waitForOutput(child.stderr, /try: kernel: /, 600)
    signalGroup(child.pid, 'SIGINT')
  })
  assert.is(run.code, 130, run.stderr)
  assert.match(run.stderr, /interrupted by SIGINT/)
  assert.equal(run.left, [])
})

test('the terminal going away (SIGHUP, its output gone) while try sets up the LAN stops it as cleanly', async () => {
  const run = await pibakeTry([RECIPE, 'node1', '--out', bookworm.out, '--command', 'true'], async (child) => {
    await waitForOutput(child.stderr, /try: LAN /, 600)
    child.closeOutput()
    process.kill(child.pid, 'SIGHUP')
  })
  assert.is(run.code, 130)
  assert.equal(run.left, [])
})

async function demoImage(release: DemoRelease) {
  mkdirSync(DEMO_DIR, { recursive: true })
  const log = join(DEMO_DIR, `build-${release}-arm64-try-test.log`)
  return buildDemoImage({ arch: 'arm64', release, outDir: DEMO_DIR, onLine: (line) => appendFileSync(log, `${line}\n`) })
}

/** Builds and publishes a recipe into `out` as `pibake build` does; nothing may stay mounted. */
async function published(file: string, out: string, name: string): Promise<{ out: string; id: string }> {
  const result = await build(file, { outDir: out })
  // Unchanged when test/recipes/cluster-node.test.ts built the same recipe there before.
  assert.ok(['published', 'unchanged'].includes(result.summary.result), `${file}: ${result.summary.result}`)
  assert.equal(await leftBehind(out), [])
  const id = (await readlink(join(out, 'publish/nfs', name, 'current'))).replace(/^builds\//, '')
  return { out, id }
}

function trixieRecipe(image: string, sha256: string): string {
  return `import { defineRecipe } from 'pibake'

export default defineRecipe({
  name: 'trixie-node',
  image: { path: ${JSON.stringify(image)}, sha256: ${JSON.stringify(sha256)}, arch: 'arm64' },
  netboot: {
    server: '10.43.0.1',
    dhcp: { mode: 'range', start: '10.43.0.100', end: '10.43.0.199', netmask: '255.255.255.0', router: '10.43.0.1' },
    nfs: { server: '10.43.0.1' },
  },
  nodes: [{ hostname: 'trixie1', mac: 'dc:a6:32:00:43:01', ip: '10.43.0.11', model: '4B' }],
})
`
}

test.run()
