/**
 * Provenance of a build published on this machine (a tiny image): its snapshot stored beside
 * `<id>.json` with the digest the record names, the record signed with an SSH key; `pibake verify`
 * finds the untouched tree identical, reports each planted change, refuses a tampered stored
 * snapshot, a tampered record and a signature no allowed key made; gc collects the files with the build.
 */
import { appendFile, chmod, chown, readdir, readFile, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import { PibakeError } from '../../src/errors.ts'
import { HostPool } from '../../src/publish/hosts.ts'
import { gc } from '../../src/site/ops.ts'
import { openSite } from '../../src/site/store.ts'
import type { Destination } from '../../src/recipe/types.ts'
import { exec } from '../../src/system/exec.ts'
import { verifyBuild } from '../../src/verify/verify.ts'
import { pibakeOutput } from './cli.ts'
import { makeProject, type Project } from '../helpers/project.ts'
import { leftBehind } from '../helpers/leftovers.ts'

let project: Project
let nfs: Destination
let config: string
let builds: string
let id: string
let signers: string
let otherSigners: string
const hosts = new HostPool()

const verify = (options: { allowedSigners?: string } = {}) => verifyBuild(hosts, nfs, 'test-node', id, options)
const lines = async (options: { allowedSigners?: string } = {}) => {
  const { diff } = await verify(options)
  return [...diff.added.map((c) => `+ ${c.path}`), ...diff.removed.map((c) => `- ${c.path}`), ...diff.changed.map((c) => `~ ${c.path} ${c.fields!.map((f) => f.field).join(',')}`)].sort()
}

test.before(async () => {
  // uvu counts a failing before hook as failed tests but never prints why: say it here.
  await setup().catch((error: unknown) => {
    process.stderr.write(`setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  })
})

async function setup(): Promise<void> {
  project = await makeProject()
  await project.write('etc/motd', 'built\n')
  // The SBOM published beside the snapshot is read from the dpkg database, which the tiny image lacks.
  await project.write('var/lib/dpkg/status', '')
  const key = join(project.dir, 'signing_key')
  await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'builder@test', '-f', key])
  signers = join(project.dir, 'allowed_signers')
  await writeFile(signers, `builder@test ${(await readFile(`${key}.pub`, 'utf8')).trim()}\n`)
  await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', join(project.dir, 'other_key')])
  otherSigners = join(project.dir, 'other_signers')
  await writeFile(otherSigners, `other@test ${(await readFile(join(project.dir, 'other_key.pub'), 'utf8')).trim()}\n`)
  config = join(project.out, 'site')
  nfs = { kind: 'local', path: join(project.out, 'nfs') }
  await build(project.recipe((input) => {
    input.publish = [{ nfs: nfs.path, tftp: join(project.out, 'tftp'), config, sign: { key } }]
  }), { outDir: project.out })
  builds = join(nfs.path, 'test-node/builds')
  id = (await readlink(join(nfs.path, 'test-node/current'))).replace('builds/', '')
}

test.after(async () => {
  await hosts.close()
  const left = await leftBehind(project.dir)
  await project.remove()
  assert.equal(left, [])
})

test('publish stores the snapshot and its digest in <id>.json, and signs the record', async () => {
  const record = JSON.parse(await readFile(join(builds, `${id}.json`), 'utf8')) as { snapshot: { file: string; sha256: string; entries: number } }
  assert.is(record.snapshot.file, `${id}.snapshot.json`)
  const { stdout } = await exec(['sha256sum', '--', join(builds, record.snapshot.file)])
  assert.is(stdout.split(' ')[0], record.snapshot.sha256)
  const principal = await exec(['ssh-keygen', '-Y', 'find-principals', '-f', signers, '-n', 'pibake-build', '-s', join(builds, `${id}.json.sig`)])
  assert.is(principal.stdout, 'builder@test')
})

test('the untouched build verifies: identical, signed by the allowed key; the command exits 0', async () => {
  const result = await verify({ allowedSigners: signers })
  assert.equal([result.diff.added, result.diff.removed, result.diff.changed], [[], [], []])
  assert.equal(result.signature, { state: 'verified', principal: 'builder@test' })
  const run = await pibakeOutput(['verify', 'test-node', '--target', config, '--allowed-signers', signers])
  assert.is(run.code, 0, run.stderr)
  assert.match(run.stdout, `test-node ${id} at ${join(builds, id)}: identical to what was built`)
  assert.match(run.stdout, 'signed by builder@test')
})

test('every planted change is reported with what changed, and the command exits 1', async () => {
  const tree = join(builds, id)
  await appendFile(join(tree, 'etc/motd'), 'x')
  await chmod(join(tree, 'etc/hostname'), 0o600)
  await chown(join(tree, 'etc/fstab'), 1000, 1000)
  await writeFile(join(tree, 'etc/planted'), 'evil\n')
  await unlink(join(tree, 'etc/machine-id'))
  await unlink(join(tree, 'bin'))
  await symlink('/tmp', join(tree, 'bin'))
  await exec(['setfattr', '-x', 'security.capability', join(tree, 'usr/bin/ping')])
  const found = await lines()
  for (const expected of ['+ /etc/planted', '- /etc/machine-id', '~ /bin target', '~ /etc/fstab uid,gid', '~ /etc/hostname mode', '~ /etc/motd size,sha256', '~ /usr/bin/ping xattrs']) {
    assert.ok(found.includes(expected), `${expected} in ${found.join(' | ')}`)
  }
  assert.is(found.length, 7, found.join(' | '))
  const run = await pibakeOutput(['verify', 'test-node', '--target', config])
  assert.is(run.code, 1)
  assert.match(run.stdout, 'DIFFERS from what was built')
  assert.match(run.stdout, '+ /etc/planted')
  assert.match(run.stdout, '~ /usr/bin/ping: xattrs -security.capability')
})

test('a stored snapshot edited to match the tampered tree is refused: its digest is not the record\'s', async () => {
  const file = join(builds, `${id}.snapshot.json`)
  const original = await readFile(file, 'utf8')
  try {
    await writeFile(file, original.replace(/("path":"\/etc\/hostname",[^\n]*"mode":)420/, '$1384'))
    assert.is.not(await readFile(file, 'utf8'), original, 'the planted edit took')
    const error = await verify().catch((e: unknown) => e)
    assert.instance(error, PibakeError)
    assert.match((error as PibakeError).message, `refusing the stored snapshot ${file}: its sha256 is`)
    const run = await pibakeOutput(['verify', 'test-node', '--target', config])
    assert.is(run.code, 1)
    assert.match(run.stderr, 'refusing the stored snapshot')
  } finally {
    await writeFile(file, original)
  }
})

test('a record edited to name the edited snapshot\'s digest passes the digest, and is refused by its signature', async () => {
  const file = join(builds, `${id}.snapshot.json`)
  const recordFile = join(builds, `${id}.json`)
  const [original, originalRecord] = [await readFile(file, 'utf8'), await readFile(recordFile, 'utf8')]
  try {
    const edited = original.replace(/("path":"\/etc\/hostname",[^\n]*"mode":)420/, '$1384')
    await writeFile(file, edited)
    const digest = (await exec(['sha256sum', '--', file])).stdout.split(' ')[0]!
    const record = JSON.parse(originalRecord) as { snapshot: { sha256: string } }
    await writeFile(recordFile, `${JSON.stringify({ ...record, snapshot: { ...record.snapshot, sha256: digest } }, null, 2)}\n`)
    const unsigned = await lines()
    assert.not.ok(unsigned.includes('~ /etc/hostname mode'), 'without allowed signers the edited snapshot is believed (what signing is for)')
    const error = await verify({ allowedSigners: signers }).catch((e: unknown) => e)
    assert.instance(error, PibakeError)
    assert.match((error as PibakeError).message, `refusing build ${id}: the signature of its record`)
  } finally {
    await writeFile(file, original)
    await writeFile(recordFile, originalRecord)
  }
})

test('a signature by a key the allowed signers do not list is refused; so is a missing one', async () => {
  const error = await verify({ allowedSigners: otherSigners }).catch((e: unknown) => e)
  assert.instance(error, PibakeError)
  assert.match((error as PibakeError).message, 'was not made by a key')
  const sig = join(builds, `${id}.json.sig`)
  const text = await readFile(sig, 'utf8')
  await rm(sig)
  try {
    const missing = await verify({ allowedSigners: signers }).catch((e: unknown) => e)
    assert.instance(missing, PibakeError)
    assert.match((missing as PibakeError).message, `build ${id} is not signed`)
    assert.equal((await verify()).signature, { state: 'unsigned' })
  } finally {
    await writeFile(sig, text)
  }
  assert.equal((await verify()).signature, { state: 'not checked' })
})

test('a tree gone, or replaced by a symlink to a copy, is refused; the checks still run to the end', async () => {
  const tree = join(builds, id)
  const aside = join(project.dir, 'tree-aside')
  await rename(tree, aside)
  try {
    // The record's check (a signature no listed key made) fails after the tree's reading has failed.
    const gone = await verify({ allowedSigners: otherSigners }).catch((e: unknown) => e)
    assert.instance(gone, PibakeError)
    assert.match((gone as PibakeError).message, 'was not made by a key')
    const missing = await verify().catch((e: unknown) => e)
    assert.instance(missing, PibakeError)
    assert.match((missing as PibakeError).message, `cannot snapshot ${tree}: it does not exist`)
    await symlink(aside, tree)
    const linked = await verify().catch((e: unknown) => e)
    assert.instance(linked, PibakeError)
    assert.match((linked as PibakeError).message, `${tree} is a symlink, not the build's folder`)
  } finally {
    await rm(tree, { force: true })
    await rename(aside, tree)
  }
})

test('gc removes a build\'s snapshot and signature with its record and tree', async () => {
  await project.write('etc/motd', 'built again\n')
  await build(project.recipe((input) => {
    input.publish = [{ nfs: nfs.path, tftp: join(project.out, 'tftp'), config, sign: { key: join(project.dir, 'signing_key') } }]
  }), { outDir: project.out })
  const next = (await readlink(join(nfs.path, 'test-node/current'))).replace('builds/', '')
  assert.is.not(next, id)
  const files = (build: string) => [build, `${build}.json`, `${build}.snapshot.json`, `${build}.json.sig`]
  // Only these four names of each build: the SBOMs published beside them are another test's.
  const mine = new Set([...files(id), ...files(next)])
  const listed = async () => (await readdir(builds)).filter((name) => mine.has(name)).sort()
  assert.equal(await listed(), [...mine].sort())
  const [result] = await gc(openSite({ kind: 'local', path: config }), { keep: { builds: 1, days: 0 }, now: new Date(Date.now() + 60_000) })
  assert.equal(result!.removed.map((b) => b.id), [id])
  assert.equal(await listed(), files(next).sort(), 'the old build\'s four entries are gone, the live one\'s kept')
})

test.run()
