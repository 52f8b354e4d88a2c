import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { chmod, lchown, link, mkdir, readFile, rename, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { exec } from '../../src/system/exec.ts'
import { diffSnapshots, takeSnapshot, type Change, type Diff } from '../../src/snapshot/index.ts'
import { CAP_NET_RAW, FIXED_MTIME, setXattr, removeTempDirs, tempDir, writeFixture } from './tree.ts'

/** The diff between the fixture and the fixture after `change`. */
async function diffAfter(change: (dir: string) => Promise<unknown>, options: { mtime?: boolean } = {}): Promise<Diff> {
  const tree = await tempDir()
  await writeFixture(tree.path)
  const before = await takeSnapshot(tree.path)
  await change(tree.path)
  return diffSnapshots(before, await takeSnapshot(tree.path), options)
}

/** Asserts that the diff holds exactly one changed path, and returns it. */
function onlyChange(diff: Diff): Change {
  assert.equal([diff.added.length, diff.removed.length, diff.changed.length], [0, 0, 1], 'exactly one changed path')
  return diff.changed[0] as Change
}

/** Copies `dir` to a new directory with `rsync -aHAX --numeric-ids`, as publishing does. */
async function rsyncCopy(dir: string, to: string): Promise<void> {
  await exec(['rsync', '-aHAX', '--numeric-ids', `${dir}/`, `${to}/`])
}

test('an rsync -aHAX --numeric-ids copy of the tree diffs empty', async () => {
  const tree = await tempDir()
  const copy = await tempDir('copy')
  await writeFixture(tree.path)
  await rsyncCopy(tree.path, copy.path)
  const diff = diffSnapshots(await takeSnapshot(tree.path), await takeSnapshot(copy.path))
  assert.equal(diff, { added: [], removed: [], changed: [] })
})

test('an rsync -aHAX --numeric-ids copy diffs empty with mtimes compared too', async () => {
  const tree = await tempDir()
  const copy = await tempDir('copy')
  await writeFixture(tree.path)
  await rsyncCopy(tree.path, copy.path)
  const diff = diffSnapshots(await takeSnapshot(tree.path), await takeSnapshot(copy.path), { mtime: true })
  assert.equal(diff, { added: [], removed: [], changed: [] })
})

test('chmod shows as one change of mode', async () => {
  const change = onlyChange(await diffAfter((dir) => chmod(join(dir, 'etc/hostname'), 0o600)))
  assert.is(change.path, '/etc/hostname')
  assert.equal(change.fields, [{ field: 'mode', before: 0o644, after: 0o600 }])
})

test('losing the setuid bit shows as one change of mode', async () => {
  const change = onlyChange(await diffAfter((dir) => chmod(join(dir, 'usr/bin/su'), 0o755)))
  assert.equal(change.fields, [{ field: 'mode', before: 0o4755, after: 0o755 }])
})

test('chown of the user shows as one change of uid', async () => {
  const change = onlyChange(await diffAfter((dir) => lchown(join(dir, 'etc/hostname'), 1000, 0)))
  assert.equal(change.fields, [{ field: 'uid', before: 0, after: 1000 }])
})

test('chown of the group shows as one change of gid', async () => {
  const change = onlyChange(await diffAfter((dir) => lchown(join(dir, 'etc/shadow'), 0, 0)))
  assert.equal(change.fields, [{ field: 'gid', before: 42, after: 0 }])
})

test('a content edit of the same size shows as one change of sha256', async () => {
  const change = onlyChange(await diffAfter((dir) => writeFile(join(dir, 'etc/hostname'), 'pj\n')))
  assert.equal(change.fields?.map((f) => f.field), ['sha256'])
})

test('a content edit that grows the file shows as one change of size and sha256', async () => {
  const change = onlyChange(await diffAfter((dir) => writeFile(join(dir, 'etc/hostname'), 'node-01\n')))
  assert.equal(change.fields?.map((f) => f.field), ['size', 'sha256'])
  assert.equal(change.fields?.[0], { field: 'size', before: 3, after: 8 })
})

test('a new file shows as one addition carrying its entry', async () => {
  const diff = await diffAfter((dir) => writeFile(join(dir, 'etc/motd'), 'hello\n'))
  assert.equal([diff.added.length, diff.removed.length, diff.changed.length], [1, 0, 0])
  assert.is(diff.added[0]?.path, '/etc/motd')
  assert.is(diff.added[0]?.kind, 'added')
  assert.is(diff.added[0]?.after?.size, 6)
})

test('a removed file shows as one removal carrying its old entry', async () => {
  const diff = await diffAfter((dir) => unlink(join(dir, 'home/pi/notes.txt')))
  assert.equal([diff.added.length, diff.removed.length, diff.changed.length], [0, 1, 0])
  assert.is(diff.removed[0]?.path, '/home/pi/notes.txt')
  assert.is(diff.removed[0]?.before?.uid, 1000)
})

test('a retargeted symlink shows as one change of target', async () => {
  const retarget = async (dir: string) => {
    await unlink(join(dir, 'usr/lib/libx.so'))
    await symlink('libx.so.2', join(dir, 'usr/lib/libx.so'))
  }
  const change = onlyChange(await diffAfter(retarget))
  assert.equal(change.fields, [{ field: 'target', before: 'libx.so.1', after: 'libx.so.2' }])
})

test('breaking one link out of three shows as one change of hardlink on that path', async () => {
  const dir = await tempDir()
  await writeFixture(dir.path)
  await link(join(dir.path, 'usr/bin/tool'), join(dir.path, 'usr/bin/tool-third'))
  const before = await takeSnapshot(dir.path)
  await breakLink(join(dir.path, 'usr/bin/tool-third'))
  const change = onlyChange(diffSnapshots(before, await takeSnapshot(dir.path)))
  assert.is(change.path, '/usr/bin/tool-third')
  assert.equal(change.fields, [{ field: 'hardlink', before: '/usr/bin/tool', after: undefined }])
})

test('breaking a hard link pair shows as a change of hardlink on both paths', async () => {
  const diff = await diffAfter((dir) => breakLink(join(dir, 'usr/bin/tool-alias')))
  assert.equal(diff.changed.map((c) => [c.path, c.fields?.map((f) => f.field)]), [
    ['/usr/bin/tool', ['hardlink']],
    ['/usr/bin/tool-alias', ['hardlink']],
  ])
})

/** Replaces a hard link by a copy with the same contents and mode. */
async function breakLink(path: string): Promise<void> {
  const content = await readFile(path)
  await writeFile(`${path}.new`, content, { mode: 0o755 })
  await chmod(`${path}.new`, 0o755)
  await rename(`${path}.new`, path)
}

test('a removed capability shows as one change of xattrs', async () => {
  const change = onlyChange(await diffAfter((dir) => exec(['setcap', '-r', join(dir, 'usr/bin/ping')])))
  assert.equal(change.fields, [{ field: 'xattrs', before: { 'security.capability': CAP_NET_RAW }, after: undefined }])
})

test('an added user xattr shows as one change of xattrs', async () => {
  const change = onlyChange(await diffAfter((dir) => setXattr(join(dir, 'etc/hostname'), 'user.origin', 'dhcp')))
  assert.equal(change.fields, [{ field: 'xattrs', before: undefined, after: { 'user.origin': '64686370' } }])
})

test('a changed device number shows as one change of rdev', async () => {
  const renode = async (dir: string) => {
    await unlink(join(dir, 'dev/null'))
    await exec(['mknod', '-m', '0666', join(dir, 'dev/null'), 'c', '1', '5'])
  }
  const change = onlyChange(await diffAfter(renode))
  assert.equal(change.fields, [{ field: 'rdev', before: { major: 1, minor: 3 }, after: { major: 1, minor: 5 } }])
})

test('a file replaced by a directory shows its type and every field that went with it', async () => {
  const replace = async (dir: string) => {
    await rm(join(dir, 'etc/hostname'))
    await mkdir(join(dir, 'etc/hostname'), { mode: 0o755 })
    await chmod(join(dir, 'etc/hostname'), 0o644)
  }
  const change = onlyChange(await diffAfter(replace))
  assert.equal(change.fields?.map((f) => f.field), ['type', 'size', 'sha256'])
})

test('mtime is ignored by default', async () => {
  const diff = await diffAfter((dir) => utimes(join(dir, 'etc/hostname'), FIXED_MTIME + 60, FIXED_MTIME + 60))
  assert.equal(diff, { added: [], removed: [], changed: [] })
})

test('mtime shows as one change with mtime: true', async () => {
  const touch = (dir: string) => utimes(join(dir, 'etc/hostname'), FIXED_MTIME + 60, FIXED_MTIME + 60)
  const change = onlyChange(await diffAfter(touch, { mtime: true }))
  assert.equal(change.fields, [{ field: 'mtime', before: FIXED_MTIME, after: FIXED_MTIME + 60 }])
})

test('changes are sorted by path', async () => {
  const chmods = async (dir: string) => {
    for (const path of ['usr/lib/libx.so.1', 'etc/hostname', 'srv/data']) await chmod(join(dir, path), 0o600)
  }
  const diff = await diffAfter(chmods)
  assert.equal(diff.changed.map((c) => c.path), ['/etc/hostname', '/srv/data', '/usr/lib/libx.so.1'])
})

test.after.each(removeTempDirs)

test.run()
