import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { diffSnapshots, diffToJson, formatDiff, type Entry, type Snapshot } from '../../src/snapshot/index.ts'

const HASH_A = 'a'.repeat(64)
const HASH_B = 'b'.repeat(64)

function snapshot(entries: Entry[]): Snapshot {
  return { format: 'pibake-snapshot', version: 1, source: '/test', taken: '2024-01-01T00:00:00.000Z', entries }
}

const file = (path: string, more: Partial<Entry> = {}): Entry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, sha256: HASH_A, mtime: 0, ...more })

test('formats an addition with type, mode and owner', () => {
  const text = formatDiff(diffSnapshots(snapshot([]), snapshot([file('/etc/motd')])))
  assert.is(text, '+ /etc/motd (file 0644 0:0)\n1 added, 0 removed, 0 changed')
})

test('formats an added symlink with its target and an added device with its number', () => {
  const link: Entry = { path: '/lib', type: 'symlink', mode: 0o777, uid: 0, gid: 0, target: 'usr/lib', mtime: 0 }
  const device: Entry = { path: '/dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, rdev: { major: 1, minor: 3 }, mtime: 0 }
  const lines = formatDiff(diffSnapshots(snapshot([]), snapshot([device, link]))).split('\n')
  assert.equal(lines.slice(0, 2), ['+ /dev/null (char 0666 0:0 1,3)', '+ /lib (symlink 0777 0:0 -> usr/lib)'])
})

test('formats a removal as its path', () => {
  const text = formatDiff(diffSnapshots(snapshot([file('/etc/rc.local')]), snapshot([])))
  assert.is(text, '- /etc/rc.local\n0 added, 1 removed, 0 changed')
})

test('formats a change as each changed field, before and after', () => {
  const before = file('/usr/bin/su', { mode: 0o4755, sha256: HASH_A, xattrs: { 'security.capability': '01', 'user.a': '01' } })
  const after = file('/usr/bin/su', { mode: 0o755, sha256: HASH_B, xattrs: { 'user.a': '02', 'user.b': '01' } })
  const text = formatDiff(diffSnapshots(snapshot([before]), snapshot([after])))
  const expected = '~ /usr/bin/su: mode 4755 -> 0755, sha256 aaaaaaaaaaaa… -> bbbbbbbbbbbb…, xattrs -security.capability ~user.a +user.b'
  assert.is(text, `${expected}\n0 added, 0 removed, 1 changed`)
})

test('formats a field that is gone as (none)', () => {
  const text = formatDiff(diffSnapshots(snapshot([file('/a', { hardlink: '/a' })]), snapshot([file('/a')])))
  assert.is(text.split('\n')[0], '~ /a: hardlink /a -> (none)')
})

test('formats mtimes as UTC dates', () => {
  const text = formatDiff(diffSnapshots(snapshot([file('/a')]), snapshot([file('/a', { mtime: 1704067200 })]), { mtime: true }))
  assert.is(text.split('\n')[0], '~ /a: mtime 1970-01-01T00:00:00Z -> 2024-01-01T00:00:00Z')
})

test('quotes paths with spaces or newlines so each change stays on one line', () => {
  const text = formatDiff(diffSnapshots(snapshot([]), snapshot([file('/a b'), file('/new\nline')])))
  assert.equal(text.split('\n'), ['+ "/a b" (file 0644 0:0)', '+ "/new\\nline" (file 0644 0:0)', '2 added, 0 removed, 0 changed'])
})

test('lists additions, removals and changes together in path order', () => {
  const text = formatDiff(diffSnapshots(snapshot([file('/b'), file('/c')]), snapshot([file('/a'), file('/c', { uid: 1 })])))
  assert.equal(text.split('\n'), ['+ /a (file 0644 0:0)', '- /b', '~ /c: uid 0 -> 1', '1 added, 1 removed, 1 changed'])
})

test('formats an empty diff as the summary line alone', () => {
  assert.is(formatDiff(diffSnapshots(snapshot([file('/a')]), snapshot([file('/a')]))), '0 added, 0 removed, 0 changed')
})

test('diffToJson gives JSON that parses back to the same diff', () => {
  const diff = diffSnapshots(snapshot([file('/b'), file('/c')]), snapshot([file('/a'), file('/c', { uid: 1 })]))
  assert.equal(JSON.parse(diffToJson(diff)), diff)
})

test.run()
