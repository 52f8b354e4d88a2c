/**
 * The fast ways of publishing a root tree on this machine make what rsync made: a first copy with
 * cp -a, and a changed build as a hard-linked copy of the previous one with only the paths that may
 * differ brought in line. Each is compared with rsync -aHAX (--link-dest) on the same source, as
 * snapshot diffs: every entry, owner, mode, time, content, xattr (capabilities, ACLs) and hard link.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { chmod, link, lstat, mkdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { deltaTree, layerPaths } from '../../src/publish/delta.ts'
import { localHost } from '../../src/publish/host.ts'
import { diffSnapshots, formatDiff, isEmptyDiff, takeSnapshot } from '../../src/snapshot/index.ts'
import { exec } from '../../src/system/exec.ts'
import { rsync, ROOTFS_ARGS } from '../../src/system/rsync.ts'
import { removeTempDirs, setMtimes, setXattr, tempDir, writeFixture } from '../snapshot/tree.ts'

test.after.each(removeTempDirs)

async function same(a: string, b: string, what: string): Promise<void> {
  const diff = diffSnapshots(await takeSnapshot(a), await takeSnapshot(b), { mtime: true })
  assert.ok(isEmptyDiff(diff), `${what}:\n${formatDiff(diff)}`)
}

/** Every path a change touched, with its parents: what the layers of a build would hold. */
function withParents(paths: readonly string[]): string[] {
  const all = new Set<string>()
  for (const path of paths) for (let p = path; p; p = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '') all.add(p)
  return [...all].sort()
}

test('a first copy with cp -a equals rsync -aHAX --numeric-ids: owners, modes, times, devices, sockets, xattrs, ACLs, capabilities, hard links', async () => {
  const { path } = await tempDir('tree-copy')
  const source = join(path, 'source')
  await mkdir(source)
  await writeFixture(source)
  await mkdir(join(path, 'cp'))
  const stats = await localHost().copyTree(source, join(path, 'cp'), {})
  assert.ok(stats, 'this machine copies a first build itself')
  assert.is(stats.totalBytes, stats.literalBytes)
  assert.ok(stats.totalBytes > 0)
  await rsync(source, join(path, 'rsync'), { args: ROOTFS_ARGS })
  await same(join(path, 'rsync'), join(path, 'cp'), 'cp -a differs from rsync')
})

test('a changed build made from the previous one by its changed paths equals rsync --link-dest, and shares the unchanged files with it', async () => {
  const { path } = await tempDir('tree-delta')
  const source = join(path, 'source')
  await mkdir(source)
  await writeFixture(source)
  const previous = join(path, 'previous')
  await mkdir(previous)
  await localHost().copyTree(source, previous, {})
  await rsync(source, join(path, 'rsync-previous'), { args: ROOTFS_ARGS })
  const before = await takeSnapshot(previous)

  await writeFile(join(source, 'etc/hostname'), 'node\n') // content
  await writeFile(join(source, 'etc/new.conf'), 'new\n') // added
  await rm(join(source, 'usr/lib/libx.so')) // removed
  await chmod(join(source, 'srv/data'), 0o600) // mode only
  await setXattr(join(source, 'etc/shadow'), 'user.note', 'xattr only') // xattr only, same stat
  await chmod(join(source, 'srv'), 0o755) // a folder's mode
  await rm(join(source, 'home/pi'), { recursive: true })
  await writeFile(join(source, 'home/pi'), 'a folder became a file\n')
  await mkdir(join(source, 'opt/app/bin'), { recursive: true }) // a new subtree
  await writeFile(join(source, 'opt/app/bin/run'), '#!/bin/sh\n', { mode: 0o755 })
  await symlink('../app/bin/run', join(source, 'opt/app/run'))
  await rm(join(source, 'etc/localtime')) // gone, and not listed below: its folder's listing says so
  await rm(join(source, 'run'), { recursive: true })
  await utimes(join(source, 'etc'), 1704067300, 1704067300)
  const touched = ['etc/hostname', 'etc/new.conf', 'usr/lib/libx.so', 'srv/data', 'etc/shadow', 'srv', 'home/pi', 'opt/app/bin/run', 'opt/app/run', 'run']
  await setMtimes(join(source, 'opt'))

  const dest = join(path, 'delta')
  await mkdir(dest)
  const result = await deltaTree(source, previous, dest, withParents(touched))
  assert.ok(result, 'nothing here needs rsync')
  assert.ok(result.transferred >= 4 && result.transferred <= 8, `copied only the changed files (${result.transferred})`)
  await rsync(source, join(path, 'rsync'), { args: ROOTFS_ARGS, linkDest: join(path, 'rsync-previous') })
  await same(join(path, 'rsync'), dest, 'the delta build differs from rsync --link-dest')
  assert.ok(isEmptyDiff(diffSnapshots(before, await takeSnapshot(previous), { mtime: true })), 'the previous build is untouched')
  const inode = async (tree: string, file: string) => (await lstat(join(tree, file))).ino
  assert.is(await inode(dest, 'usr/bin/su'), await inode(previous, 'usr/bin/su'), 'an unchanged file is a hard link to the previous build')
  assert.is.not(await inode(dest, 'etc/hostname'), await inode(previous, 'etc/hostname'), 'a changed file is a file of its own')
  assert.is(await readFile(join(previous, 'etc/hostname'), 'utf8'), 'pi\n')
})

test('a changed file with another name in the tree is left to rsync (its hard links), and the half-made tree is removed', async () => {
  const { path } = await tempDir('tree-delta-links')
  const source = join(path, 'source')
  await mkdir(source)
  await writeFixture(source)
  const previous = join(path, 'previous')
  await mkdir(previous)
  await localHost().copyTree(source, previous, {})
  await writeFile(join(source, 'usr/bin/tool'), 'tool 2\n') // tool-alias is the same file
  const dest = join(path, 'delta')
  await mkdir(dest)
  assert.is(await deltaTree(source, previous, dest, withParents(['usr/bin/tool'])), undefined)
  assert.is(await lstat(dest).catch(() => undefined), undefined)
})

test('a path under a symlink of the image is no entry of its own: rsync decides', async () => {
  const { path } = await tempDir('tree-delta-symlink')
  const source = join(path, 'source')
  await mkdir(join(source, 'usr/lib'), { recursive: true })
  await symlink('usr/lib', join(source, 'lib'))
  const previous = join(path, 'previous')
  await mkdir(previous)
  await localHost().copyTree(source, previous, {})
  await writeFile(join(source, 'usr/lib/x'), 'x\n')
  await mkdir(join(path, 'delta'))
  assert.is(await deltaTree(source, previous, join(path, 'delta'), ['lib', 'lib/x']), undefined)
})

test('the layers name every path they hold, folders included, whiteouts too', async () => {
  const { path } = await tempDir('layer-paths')
  await mkdir(join(path, 'a/etc/ssh'), { recursive: true })
  await writeFile(join(path, 'a/etc/ssh/sshd_config'), '')
  await mkdir(join(path, 'b/usr/bin'), { recursive: true })
  await exec(['mknod', join(path, 'b/usr/bin/gone'), 'c', '0', '0'])
  await link(join(path, 'a/etc/ssh/sshd_config'), join(path, 'a/etc/hardlink'))
  assert.equal(await layerPaths([join(path, 'a'), join(path, 'b'), join(path, 'missing')]), ['etc', 'etc/hardlink', 'etc/ssh', 'etc/ssh/sshd_config', 'usr', 'usr/bin', 'usr/bin/gone'])
})

test.run()
