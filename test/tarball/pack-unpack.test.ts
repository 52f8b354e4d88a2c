/**
 * Tarballs written by packTree and read back by unpackTar (and by GNU tar, as `machinectl
 * import-tar` runs it): every kind of entry and its metadata kept, the same tree giving the same
 * bytes, hostile archives refused. The fixture is the snapshot tests' (owners, setuid, a file
 * capability, an ACL, user xattrs, a hard link, a device node, a FIFO, a socket).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, mkdir, readFile, readlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { diffSnapshots, formatDiff, isEmptyDiff, takeSnapshot } from '../../src/snapshot/index.ts'
import { exec } from '../../src/system/exec.ts'
import { readTarball, writeTarball } from '../../src/tarball/compression.ts'
import { packTree } from '../../src/tarball/pack.ts'
import { unpackTar } from '../../src/tarball/unpack.ts'
import { FIXED_MTIME, removeTempDirs, setMtimes, tempDir, writeFixture } from '../snapshot/tree.ts'

test.after.each(removeTempDirs)

/** A binary xattr value (not UTF-8), as a file capability often is. */
const BINARY = 'ff00fe80'

async function fixture(): Promise<string> {
  const dir = (await tempDir('tarball-src')).path
  await writeFixture(dir)
  await exec(['setfattr', '-n', 'user.binary', '-v', `0x${BINARY}`, join(dir, 'etc/hostname')])
  // A name longer than a ustar header holds, and one that is not ASCII: both go in PAX headers.
  const long = `usr/lib/${'very-long-folder-name/'.repeat(6)}`
  await mkdir(join(dir, long), { recursive: true })
  await writeFile(join(dir, long, 'fichier-é.txt'), 'long\n')
  await setMtimes(dir)
  return dir
}

async function roundTrip(src: string, file: string): Promise<string> {
  await writeTarball(packTree(src, { clamp: FIXED_MTIME + 1 }), file)
  const dest = (await tempDir('tarball-dest')).path
  const reader = readTarball(file)
  await unpackTar(reader.tar, dest, { archive: file })
  await reader.done
  return dest
}

/** The diff between two trees, modification times compared; the fixture's socket is left out of archives, as tar leaves sockets out. */
async function treeDiff(a: string, b: string) {
  const diff = diffSnapshots(await takeSnapshot(a), await takeSnapshot(b), { mtime: true })
  diff.removed = diff.removed.filter((change) => change.path !== '/run/control.sock')
  return diff
}

for (const suffix of ['tar', 'tar.zst', 'tar.xz']) {
  test(`a .${suffix} unpacks to the tree it was packed from: owners, modes, times, links, devices, xattrs`, async () => {
    const src = await fixture()
    const file = join((await tempDir('tarball-file')).path, `root.${suffix}`)
    const dest = await roundTrip(src, file)
    const diff = await treeDiff(src, dest)
    assert.ok(isEmptyDiff(diff), formatDiff(diff))
  })
}

test('hard links stay one file: one entry with the contents, the others links to it', async () => {
  const src = await fixture()
  const file = join((await tempDir('tarball-file')).path, 'root.tar')
  const dest = await roundTrip(src, file)
  const listing = (await exec(['tar', '-tvf', file])).stdout
  assert.match(listing, /^h.* \.\/usr\/bin\/tool-alias link to \.\/usr\/bin\/tool$/m)
  assert.match(listing, /^-.* 5 .* \.\/usr\/bin\/tool$/m)
  const [a, b] = await Promise.all([lstat(join(dest, 'usr/bin/tool')), lstat(join(dest, 'usr/bin/tool-alias'))])
  assert.is(a.ino, b.ino)
  assert.is(a.nlink, 2)
})

test('device nodes, FIFOs and symlinks come back as such', async () => {
  const src = await fixture()
  const dest = await roundTrip(src, join((await tempDir('tarball-file')).path, 'root.tar'))
  const null_ = await lstat(join(dest, 'dev/null'))
  assert.ok(null_.isCharacterDevice())
  assert.is(null_.rdev, (1 << 8) | 3)
  assert.is(null_.mode & 0o7777, 0o666)
  assert.ok((await lstat(join(dest, 'run/initctl'))).isFIFO())
  assert.is(await readlink(join(dest, 'etc/localtime')), '/usr/share/zoneinfo/UTC')
  assert.is(await readlink(join(dest, 'usr/lib/libx.so')), 'libx.so.1')
})

test('xattrs: a file capability, an ACL and a binary value kept, and GNU tar (as machinectl import-tar runs it) reads them too', async () => {
  const src = await fixture()
  const file = join((await tempDir('tarball-file')).path, 'root.tar')
  const dest = await roundTrip(src, file)
  const get = async (dir: string, path: string, name: string) => (await exec(['getfattr', '-h', '--absolute-names', '-n', name, '-e', 'hex', join(dir, path)])).stdout.split('\n').find((line) => line.startsWith(`${name}=`))?.slice(name.length + 1)
  assert.is(await get(dest, 'etc/hostname', 'user.binary'), `0x${BINARY}`)
  assert.is(await get(dest, 'usr/bin/ping', 'security.capability'), await get(src, 'usr/bin/ping', 'security.capability'))
  const gnu = (await tempDir('tarball-gnu')).path
  await exec(['tar', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '-C', gnu, '-xpf', file])
  const diff = await treeDiff(src, gnu)
  // GNU tar sets a folder's time before it writes into the folder's xattr-holding children only for ./ (it never restores the root's).
  diff.changed = diff.changed.filter((change) => change.path !== '/')
  assert.ok(isEmptyDiff(diff), formatDiff(diff))
})

test('the same tree gives the same bytes: a copy made in another order, at another time', async () => {
  const src = await fixture()
  const dir = (await tempDir('tarball-file')).path
  await writeTarball(packTree(src, { clamp: FIXED_MTIME }), join(dir, 'a.tar'))
  const copy = join(dir, 'copy')
  // cp makes every inode anew (other inode numbers, another directory order on disk).
  await exec(['cp', '--archive', src, copy])
  await writeTarball(packTree(copy, { clamp: FIXED_MTIME }), join(dir, 'b.tar'))
  const [a, b] = await Promise.all([readFile(join(dir, 'a.tar')), readFile(join(dir, 'b.tar'))])
  assert.ok(a.equals(b), 'the two archives differ')
  // Entries sorted by path, under ./
  const names = (await exec(['tar', '-tf', join(dir, 'a.tar')])).stdout.split('\n')
  assert.is(names[0], './')
  assert.equal(names, [...names].sort((x, y) => (x.replace(/\/$/, '') < y.replace(/\/$/, '') ? -1 : 1)))
})

test('times later than the clamp are written as the clamp, earlier ones as they are', async () => {
  const src = (await tempDir('tarball-src')).path
  await writeFile(join(src, 'old'), '')
  await writeFile(join(src, 'new'), '')
  await utimes(join(src, 'old'), 1000, 1000)
  await utimes(join(src, 'new'), 5000, 5000)
  await utimes(src, 5000, 5000)
  const file = join((await tempDir('tarball-file')).path, 'root.tar')
  await writeTarball(packTree(src, { clamp: 2000 }), file)
  const listing = (await exec(['tar', '--full-time', '-tvf', file], { env: { TZ: 'UTC' } })).stdout
  assert.match(listing, /1970-01-01 00:16:40 \.\/old$/m)
  assert.match(listing, /1970-01-01 00:33:20 \.\/new$/m)
  assert.match(listing, /1970-01-01 00:33:20 \.\/$/m)
})

test('entries in path order where a folder\'s name begins its neighbours\' (a-b and a.b before a/x, a0 after), with the boot files grafted where the tree has no boot/firmware', async () => {
  const src = (await tempDir('tarball-src')).path
  for (const dir of ['a/x', 'a.b', 'boot', 'b/c']) await mkdir(join(src, dir), { recursive: true })
  for (const file of ['a/x/f', 'a/y', 'a-b', 'a.b/g', 'a0', 'boot-x', 'b/c/h', 'b-c']) await writeFile(join(src, file), `${file}\n`)
  const boot = (await tempDir('tarball-boot')).path
  await mkdir(join(boot, 'overlays'))
  for (const file of ['overlays/o.dtbo', 'config.txt', 'cmdline.txt']) await writeFile(join(boot, file), `${file}\n`)
  const file = join((await tempDir('tarball-file')).path, 'root.tar')
  await writeTarball(packTree(src, { clamp: FIXED_MTIME, graft: { dir: boot, prefix: 'boot/firmware' } }), file)
  const names = (await exec(['tar', '-tf', file])).stdout.trim().split('\n').map((name) => name.replace(/\/$/, ''))
  assert.equal(names, [
    '.', './a', './a-b', './a.b', './a.b/g', './a/x', './a/x/f', './a/y', './a0', './b', './b-c', './b/c', './b/c/h',
    './boot', './boot-x', './boot/firmware', './boot/firmware/cmdline.txt', './boot/firmware/config.txt', './boot/firmware/overlays', './boot/firmware/overlays/o.dtbo',
  ])
})

test.run()
