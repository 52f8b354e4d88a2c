/**
 * Reading a tree with the host's own tools (find, sha256sum, stat, getfattr), as `pibake verify`
 * does over SSH: on the snapshot fixture (every kind of entry, a newline in a name, ACLs,
 * capabilities, hard links) it must record exactly what takeSnapshot records; output that is not
 * as those tools print it is refused.
 */
import { lutimes, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError } from '../../src/errors.ts'
import { localHost, type Host } from '../../src/publish/host.ts'
import { diffSnapshots } from '../../src/snapshot/diff.ts'
import { takeSnapshot } from '../../src/snapshot/take.ts'
import { parseHashes, parseListing, snapshotOnHost } from '../../src/verify/remote.ts'
import { FIXED_MTIME, removeTempDirs, tempDir, writeFixture } from '../snapshot/tree.ts'

test.after.each(removeTempDirs)

test('the host tools record what takeSnapshot records, field by field, modification times included', async () => {
  const dir = (await tempDir('verify')).path
  await writeFixture(dir)
  // Links into the root's own /usr, as a root filesystem has them: absent on the server, never followed there.
  await symlink('/usr/lib/no-such-file-on-any-host', join(dir, 'etc/dangling'))
  await lutimes(join(dir, 'etc/dangling'), FIXED_MTIME, FIXED_MTIME)
  await lutimes(join(dir, 'etc'), FIXED_MTIME, FIXED_MTIME)
  const [own, viaTools] = await Promise.all([takeSnapshot(dir), snapshotOnHost(localHost(), dir)])
  assert.equal(viaTools.entries, own.entries)
  const diff = diffSnapshots(own, viaTools, { mtime: true })
  assert.equal([diff.added, diff.removed, diff.changed], [[], [], []])
})

test('a host without getfattr is refused with what to install, not read as a tree without xattrs', async () => {
  const dir = (await tempDir('verify')).path
  await writeFixture(dir)
  const local = localHost()
  const noGetfattr: Host = { ...local, shell: (command, options) => local.shell(command.replace('command -v getfattr', 'command -v no-such-getfattr'), options) }
  const error = await snapshotOnHost(noGetfattr, dir).catch((e: unknown) => e)
  assert.instance(error, PibakeError)
  assert.match((error as PibakeError).message, 'has no getfattr')
  assert.match((error as PibakeError).hint ?? '', 'apt-get install attr')
})

const record = (fields: Partial<Record<'type' | 'mode' | 'uid' | 'gid' | 'size' | 'links' | 'inode' | 'mtime' | 'path' | 'target', string>> = {}) => {
  const f = { type: 'f', mode: '644', uid: '0', gid: '0', size: '3', links: '1', inode: '2049:17', mtime: '1704067200.0000000000', path: './etc/motd', target: '', ...fields }
  return [f.type, f.mode, f.uid, f.gid, f.size, f.links, f.inode, f.mtime, f.path, f.target].map((x) => `${x}\0`).join('')
}
const root = record({ type: 'd', mode: '755', path: '.', inode: '2049:2', links: '3' })

test('a listing as find prints it is read; one record per path, the tree itself included', () => {
  const listed = parseListing(root + record() + record({ type: 'l', mode: '777', path: './bin', target: 'usr/bin' }), 'h:/t')
  assert.equal(listed.map((l) => l.entry), [
    { path: '/', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1704067200 },
    { path: '/etc/motd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1704067200, size: 3 },
    { path: '/bin', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1704067200, target: 'usr/bin' },
  ])
  assert.equal(parseListing(root + record({ mtime: '-1.5' }), 'h:/t')[1]!.entry.mtime, -2, 'before 1970: rounded down, as lstat does')
})

const refused = (what: string, run: () => unknown, pattern: string) => {
  test(`refused: ${what}`, () => {
    try {
      run()
    } catch (error) {
      assert.instance(error, PibakeError)
      assert.match((error as PibakeError).message, pattern)
      return
    }
    assert.unreachable(`${what} was accepted`)
  })
}

refused('a listing cut mid-record', () => parseListing(root + record().slice(0, -5), 'h:/t'), 'does not end where a record ends')
refused('a path climbing out of the tree', () => parseListing(root + record({ path: './etc/../../shadow' }), 'h:/t'), 'is not one find prints')
refused('an absolute path', () => parseListing(root + record({ path: '/etc/shadow' }), 'h:/t'), 'is not one find prints')
refused('a path listed twice', () => parseListing(root + record() + record(), 'h:/t'), 'is listed twice')
refused('an unknown type', () => parseListing(root + record({ type: 'D' }), 'h:/t'), 'has the type "D"')
refused('a mode that is not octal permission bits', () => parseListing(root + record({ mode: '100644' }), 'h:/t'), 'has the mode')
refused('an owner that is not a number', () => parseListing(root + record({ uid: 'root' }), 'h:/t'), 'has the uid "root"')
refused('a symlink without a target', () => parseListing(root + record({ type: 'l' }), 'h:/t'), 'has no target')
refused('a file with a link target', () => parseListing(root + record({ target: '/etc/shadow' }), 'h:/t'), 'not a symlink but has a target')
refused('a listing without the tree itself', () => parseListing(record(), 'h:/t'), 'lacks the tree itself')
refused('a hash line that is not sha256sum\'s', () => parseHashes(`${'a'.repeat(63)}  ./etc/motd\0`, 'h:/t'), 'sha256sum printed')
refused('hashes cut mid-line', () => parseHashes(`${'a'.repeat(64)}  ./etc/motd`, 'h:/t'), 'do not end where a line ends')

test('sha256sum -z lines are read, names with newlines included', () => {
  assert.equal(parseHashes(`${'a'.repeat(64)}  ./srv/new\nline\0${'b'.repeat(64)} *./x\0`, 'h:/t'), [['/srv/new\nline', 'a'.repeat(64)], ['/x', 'b'.repeat(64)]])
})

test.run()
