import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError } from '../../src/errors.ts'
import { comparePaths, takeSnapshot, type Entry, type Snapshot } from '../../src/snapshot/index.ts'
import { ACL_USER_1234, CAP_NET_RAW, FIXED_MTIME, FIXTURE, removeTempDirs, tempDir, writeFixture, type TempDir } from './tree.ts'

let tree: TempDir
let snapshot: Snapshot

test.before(async () => {
  tree = await tempDir()
  await writeFixture(tree.path)
  snapshot = await takeSnapshot(tree.path)
})

test.after(removeTempDirs)

function entry(path: string): Entry {
  const found = snapshot.entries.find((e) => e.path === path)
  if (!found) throw new Error(`${path} is not in the snapshot`)
  return found
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

const mtime = FIXED_MTIME

test('records the tree root as / and every fixture path, nothing else', () => {
  assert.equal(snapshot.entries.map((e) => e.path).sort(), ['/', ...Object.keys(FIXTURE)].sort())
  assert.equal(entry('/'), { path: '/', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime })
})

test('sorts entries by path', () => {
  const paths = snapshot.entries.map((e) => e.path)
  assert.equal(paths, [...paths].sort(comparePaths))
})

test('records the snapshot header', () => {
  assert.is(snapshot.format, 'pibake-snapshot')
  assert.is(snapshot.version, 1)
  assert.is(snapshot.source, tree.path)
  assert.ok(!Number.isNaN(Date.parse(snapshot.taken)))
})

test('records a regular file with mode, owner, size, sha256 and mtime', () => {
  const content = 'pi\n'
  assert.equal(entry('/etc/hostname'), { path: '/etc/hostname', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 3, sha256: sha256(content), mtime })
})

test('records files and directories owned by other uids and gids', () => {
  assert.equal(entry('/home/pi'), { path: '/home/pi', type: 'dir', mode: 0o750, uid: 1000, gid: 1000, mtime })
  const notes = 'remember the milk\n'
  assert.equal(entry('/home/pi/notes.txt'), { path: '/home/pi/notes.txt', type: 'file', mode: 0o600, uid: 1000, gid: 1000, size: notes.length, sha256: sha256(notes), mtime })
  assert.is(entry('/etc/shadow').gid, 42)
})

test('records setuid, setgid and sticky bits in mode', () => {
  assert.is(entry('/usr/bin/su').mode, 0o4755)
  assert.is(entry('/srv').mode, 0o2775)
  assert.is(entry('/tmp').mode, 0o1777)
})

test('records relative and absolute symlinks by their target, without following them', () => {
  assert.equal(entry('/usr/lib/libx.so'), { path: '/usr/lib/libx.so', type: 'symlink', mode: 0o777, uid: 0, gid: 0, target: 'libx.so.1', mtime })
  assert.equal(entry('/etc/localtime'), { path: '/etc/localtime', type: 'symlink', mode: 0o777, uid: 0, gid: 0, target: '/usr/share/zoneinfo/UTC', mtime })
})

test('records a fifo', () => {
  assert.equal(entry('/run/initctl'), { path: '/run/initctl', type: 'fifo', mode: 0o600, uid: 0, gid: 0, mtime })
})

test('records a socket', () => {
  assert.equal(entry('/run/control.sock'), { path: '/run/control.sock', type: 'socket', mode: 0o660, uid: 0, gid: 0, mtime })
})

test('records a character device with its major and minor number', () => {
  assert.equal(entry('/dev/null'), { path: '/dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, rdev: { major: 1, minor: 3 }, mtime })
})

test('records security.capability as hex', () => {
  assert.equal(entry('/usr/bin/ping').xattrs, { 'security.capability': CAP_NET_RAW })
})

test('records POSIX ACLs and user xattrs as hex', () => {
  const hex = Buffer.from('kept').toString('hex')
  assert.equal(entry('/srv/data').xattrs, { 'system.posix_acl_access': ACL_USER_1234, 'user.comment': hex })
})

test('records xattrs of paths holding a space or a newline (getfattr escapes them)', () => {
  assert.equal(entry('/srv/with space').xattrs, { 'user.comment': Buffer.from('space').toString('hex') })
  assert.equal(entry('/srv/new\nline').xattrs, { 'user.comment': Buffer.from('newline').toString('hex') })
})

test('leaves xattrs out of entries that have none', () => {
  assert.not.ok('xattrs' in entry('/etc/hostname'))
})

test('marks both members of a hard link pair with the first path of the pair', () => {
  assert.is(entry('/usr/bin/tool').hardlink, '/usr/bin/tool')
  assert.is(entry('/usr/bin/tool-alias').hardlink, '/usr/bin/tool')
  assert.is(entry('/usr/bin/tool-alias').sha256, entry('/usr/bin/tool').sha256)
  assert.not.ok('hardlink' in entry('/usr/bin/su'))
})

test('hashes a file bigger than one read correctly', async () => {
  const dir = await tempDir()
  const big = Buffer.alloc(5 * 1024 * 1024 + 17, 'pibake')
  await writeFile(join(dir.path, 'big'), big)
  const taken = await takeSnapshot(dir.path)
  const found = taken.entries.find((e) => e.path === '/big')
  assert.is(found?.size, big.length)
  assert.is(found?.sha256, createHash('sha256').update(big).digest('hex'))
})

test('leaves out excluded paths and everything below them', async () => {
  const taken = await takeSnapshot(tree.path, { exclude: (path) => path === '/usr' || path === '/etc/shadow' })
  const paths = taken.entries.map((e) => e.path)
  assert.not.ok(paths.some((p) => p.startsWith('/usr')))
  assert.not.ok(paths.includes('/etc/shadow'))
  assert.ok(paths.includes('/etc/hostname'))
})

test('counts hard links only among the paths in the snapshot', async () => {
  const taken = await takeSnapshot(tree.path, { exclude: (path) => path === '/usr/bin/tool-alias' })
  assert.not.ok('hardlink' in (taken.entries.find((e) => e.path === '/usr/bin/tool') ?? {}))
})

test('reports progress up to the number of entries', async () => {
  const counts: number[] = []
  const taken = await takeSnapshot(tree.path, { onProgress: (done) => counts.push(done) })
  assert.is(counts.at(-1), taken.entries.length)
  assert.equal(counts, [...counts].sort((a, b) => a - b))
})

test('walks a symlinked directory as a link, not into it', async () => {
  const dir = await tempDir()
  await mkdir(join(dir.path, 'inside'))
  await symlink(tree.path, join(dir.path, 'inside/elsewhere'))
  const taken = await takeSnapshot(dir.path)
  assert.equal(taken.entries.map((e) => e.path), ['/', '/inside', '/inside/elsewhere'])
})

test('stops with the abort reason when aborted halfway', async () => {
  const controller = new AbortController()
  const reason = new Error('stop halfway')
  const onProgress = (done: number) => done === 5 && controller.abort(reason)
  try {
    await takeSnapshot(tree.path, { signal: controller.signal, onProgress })
    assert.unreachable()
  } catch (error) {
    assert.is(error, reason)
  }
})

test('refuses a file name that is not UTF-8, naming its directory', async () => {
  const dir = await tempDir()
  await writeFile(Buffer.concat([Buffer.from(`${dir.path}/bad-`), Buffer.of(0xff)]), '')
  try {
    await takeSnapshot(dir.path)
    assert.unreachable()
  } catch (error) {
    assert.instance(error, PibakeError)
    assert.match((error as Error).message, `a name in ${dir.path}, "bad-\\xff", is not valid UTF-8`)
  }
})

test('stops with the abort reason when the signal aborts', async () => {
  const controller = new AbortController()
  const reason = new Error('stop now')
  controller.abort(reason)
  try {
    await takeSnapshot(tree.path, { signal: controller.signal })
    assert.unreachable()
  } catch (error) {
    assert.is(error, reason)
  }
})

test('refuses a path that is not a directory', async () => {
  try {
    await takeSnapshot(join(tree.path, 'etc/hostname'))
    assert.unreachable()
  } catch (error) {
    assert.instance(error, PibakeError)
    assert.match((error as Error).message, 'is not a directory')
  }
})

test('refuses a path that does not exist', async () => {
  try {
    await takeSnapshot(join(tree.path, 'missing'))
    assert.unreachable()
  } catch (error) {
    assert.instance(error, PibakeError)
    assert.match((error as Error).message, 'does not exist')
  }
})


test.run()
