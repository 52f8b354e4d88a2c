/**
 * `pibake verify` on a real published demo build, published over SSH (an "nfs" and a "pxe" host,
 * each a real sshd in a namespace of a test LAN; the namespaces share this machine's files, so the
 * test plants its changes where the tree arrived) with the record signed: the untouched build
 * verifies over SSH and on this machine; each planted change (a byte, a mode, an owner, a file
 * added, one deleted, a symlink retargeted, an xattr) is reported and the command exits 1; a stored
 * snapshot edited to hide a change, and a record edited after signing, are refused.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { appendFile, chmod, chown, lstat, mkdtemp, readFile, readlink, rm, symlink, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { HostPool } from '../../src/publish/hosts.ts'
import { diffSnapshots } from '../../src/snapshot/diff.ts'
import { takeSnapshot } from '../../src/snapshot/take.ts'
import { exec } from '../../src/system/exec.ts'
import { snapshotOnHost } from '../../src/verify/remote.ts'
import { verifyBuild } from '../../src/verify/verify.ts'
import { publishDemoBuild, type PublishedBuild } from '../boot/published.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { TestLan } from '../helpers/netns.ts'
import { startSshd } from '../helpers/sshd.ts'
import { pibakeOutput } from './cli.ts'

const NFS = '10.83.0.2'
const PXE = '10.83.0.3'
const NAME = 'verify-test'
let lan: TestLan
let dir: string
let published: PublishedBuild
let signers: string
let builds: string
let identity: string
let knownHosts: string

const verifyCli = (...extra: string[]) => pibakeOutput(['verify', NAME, '--target', published.publish, ...extra])

test.before(async () => {
  // uvu counts a failing before hook as failed tests but never prints why: say it here.
  await setup().catch((error: unknown) => {
    process.stderr.write(`verify test setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  })
})

async function setup(): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), 'pibake-verify-ssh-'))
  identity = join(dir, 'id_publish')
  await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', identity])
  const key = join(dir, 'signing_key')
  await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'builder@test', '-f', key])
  signers = join(dir, 'allowed_signers')
  writeFileSync(signers, `builder@test ${readFileSync(`${key}.pub`, 'utf8').trim()}\n`)
  lan = new TestLan()
  await lan.setup([{ name: 'nfs', address: `${NFS}/24` }, { name: 'pxe', address: `${PXE}/24` }])
  const authorizedKey = readFileSync(`${identity}.pub`, 'utf8')
  const lines: string[] = []
  for (const [host, address] of [['nfs', NFS], ['pxe', PXE]] as const) lines.push((await startSshd(lan, { host, address, dir: join(dir, `sshd-${host}`), authorizedKey })).knownHostsLine)
  knownHosts = join(dir, 'known_hosts')
  writeFileSync(knownHosts, `${lines.join('\n')}\n`)
  await lan.attachHere('10.83.0.254/24')
  published = await publishDemoBuild(NAME, { ssh: { nfsHost: `root@${NFS}`, pxeHost: `root@${PXE}`, identity, knownHosts, sign: { key } } })
  process.stderr.write(`# demo image ${published.seconds.image.toFixed(0)} s, build + publish over SSH ${published.seconds.build.toFixed(0)} s\n`)
  builds = join(published.recipeDir, 'builds')
}

test.after(async () => {
  try {
    await lan?.close()
  } finally {
    const left = published ? await leftBehind(published.dir) : []
    await published?.remove()
    await rm(dir, { recursive: true, force: true })
    assert.equal(left, [], 'no loop device or mount is left behind')
  }
})

test('the untouched build verifies over SSH, signed by the allowed key, and on this machine too', async () => {
  const run = await verifyCli('--allowed-signers', signers)
  assert.is(run.code, 0, run.stdout + run.stderr)
  assert.match(run.stdout, `${NAME} ${published.id} at root@${NFS}:${published.root}: identical to what was built`)
  assert.match(run.stdout, 'signed by builder@test')
  const hosts = new HostPool()
  try {
    const here = await verifyBuild(hosts, { kind: 'local', path: join(published.recipeDir, '..') }, NAME, published.id)
    assert.equal([here.diff.added, here.diff.removed, here.diff.changed], [[], [], []])
    assert.ok(here.entries > 10_000, `a whole root: ${here.entries} paths`)
    // Over SSH the server's find, sha256sum, stat and getfattr read what pibake's own snapshot reads here.
    const ssh = hosts.get({ kind: 'ssh', user: 'root', host: NFS, port: 22, path: '/', identity, knownHosts })
    const [there, own] = await Promise.all([snapshotOnHost(ssh, published.root), takeSnapshot(published.root)])
    const same = diffSnapshots(own, there, { mtime: true })
    assert.equal([same.added, same.removed, same.changed], [[], [], []])
  } finally {
    await hosts.close()
  }
})

test('each planted change is reported over SSH, and the command exits 1', async () => {
  const tree = published.root
  await appendFile(join(tree, 'etc/hostname'), 'x')
  await chmod(join(tree, 'etc/passwd'), 0o666)
  await chown(join(tree, 'etc/issue'), 1000, 1000)
  await writeFile(join(tree, 'etc/planted'), 'evil\n')
  await unlink(join(tree, 'etc/motd'))
  const link = join(tree, 'bin')
  assert.ok((await lstat(link)).isSymbolicLink(), '/bin is a symlink on a merged-/usr root')
  const target = await readlink(link)
  await unlink(link)
  await symlink('usr/sbin', link)
  await exec(['setfattr', '-n', 'user.planted', '-v', 'yes', join(tree, 'etc/debian_version')])
  const run = await verifyCli('--json')
  assert.is(run.code, 1, run.stderr)
  const [result] = JSON.parse(run.stdout) as { diff: { added: { path: string }[]; removed: { path: string }[]; changed: { path: string; fields: { field: string }[] }[] } }[]
  const changed = Object.fromEntries(result!.diff.changed.map((c) => [c.path, c.fields.map((f) => f.field).sort().join(',')]))
  assert.equal(result!.diff.added.map((c) => c.path), ['/etc/planted'])
  assert.equal(result!.diff.removed.map((c) => c.path), ['/etc/motd'])
  assert.equal(changed, {
    '/bin': 'target',
    '/etc/debian_version': 'xattrs',
    '/etc/hostname': 'sha256,size',
    '/etc/issue': 'gid,uid',
    '/etc/passwd': 'mode',
  })
  const text = await verifyCli()
  assert.is(text.code, 1)
  assert.match(text.stdout, 'DIFFERS from what was built')
  assert.match(text.stdout, `~ /bin: target ${target} -> usr/sbin`)
  assert.match(text.stdout, '1 added, 1 removed, 5 changed')
})

test('a stored snapshot edited to hide a change is refused: its digest is not the one the record names', async () => {
  const file = join(builds, `${published.id}.snapshot.json`)
  const original = await readFile(file, 'utf8')
  try {
    const edited = original.replace(/("path":"\/etc\/passwd",[^\n]*"mode":)420/, '$1438')
    assert.is.not(edited, original, 'the edit took')
    await writeFile(file, edited)
    const run = await verifyCli()
    assert.is(run.code, 1)
    assert.match(run.stderr, `refusing the stored snapshot root@${NFS}:${file}: its sha256 is`)
  } finally {
    await writeFile(file, original)
  }
})

test('a record edited after it was signed is refused', async () => {
  const file = join(builds, `${published.id}.json`)
  const original = await readFile(file, 'utf8')
  try {
    await writeFile(file, original.replace(/"created": "[^"]+"/, '"created": "2020-01-01T00:00:00.000Z"'))
    assert.is.not(await readFile(file, 'utf8'), original, 'the edit took')
    const run = await verifyCli('--allowed-signers', signers)
    assert.is(run.code, 1)
    assert.match(run.stderr, `refusing build ${published.id}: the signature of its record root@${NFS}:${file} does not hold`)
  } finally {
    await writeFile(file, original)
  }
})

test.run()
