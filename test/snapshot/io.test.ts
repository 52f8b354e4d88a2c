import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError } from '../../src/errors.ts'
import { loadSnapshotSource, readSnapshot, takeSnapshot, writeSnapshot, type Snapshot } from '../../src/snapshot/index.ts'
import { removeTempDirs, tempDir, writeFixture } from './tree.ts'

/** Runs `action`, expects a PibakeError, and returns its message. */
async function failure(action: () => Promise<unknown>): Promise<string> {
  try {
    await action()
  } catch (error) {
    assert.instance(error, PibakeError)
    return (error as PibakeError).message
  }
  assert.unreachable('expected a PibakeError')
  return ''
}

const valid = (): Snapshot => ({
  format: 'pibake-snapshot',
  version: 1,
  source: '/test',
  taken: '2024-01-01T00:00:00.000Z',
  entries: [{ path: '/', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 }],
})

test('a written snapshot reads back equal', async () => {
  const tree = await tempDir()
  const out = await tempDir('out')
  await writeFixture(tree.path)
  const snapshot = await takeSnapshot(tree.path)
  await writeSnapshot(snapshot, join(out.path, 'root.json'))
  assert.equal(await readSnapshot(join(out.path, 'root.json')), snapshot)
})

test('writeSnapshot writes one entry per line and leaves no temporary file', async () => {
  const out = await tempDir('out')
  const file = join(out.path, 'root.json')
  await writeSnapshot(valid(), file)
  await writeSnapshot({ ...valid(), source: '/other' }, file)
  assert.equal(await readdir(out.path), ['root.json'])
  const lines = (await readFile(file, 'utf8')).split('\n')
  assert.is(lines[1], '{"path":"/","type":"dir","mode":493,"uid":0,"gid":0,"mtime":0}')
  assert.is((await readSnapshot(file)).source, '/other')
})

test('writeSnapshot into a missing directory fails with a PibakeError', async () => {
  const message = await failure(() => writeSnapshot(valid(), '/nonexistent-pibake-dir/root.json'))
  assert.match(message, 'cannot write snapshot /nonexistent-pibake-dir/root.json')
})

test('reading JSON that is not a snapshot fails saying so', async () => {
  const dir = await tempDir()
  const file = join(dir.path, 'package.json')
  await writeFile(file, JSON.stringify({ name: 'pibake' }))
  assert.is(await failure(() => readSnapshot(file)), `${file} is not a pibake snapshot (it has no "format": "pibake-snapshot")`)
})

test('reading a file that is not JSON fails saying so', async () => {
  const dir = await tempDir()
  const file = join(dir.path, 'root.json')
  await writeFile(file, 'not json')
  assert.match(await failure(() => readSnapshot(file)), `${file} is not a pibake snapshot: it is not JSON`)
})

test('reading a missing file fails saying so', async () => {
  assert.is(await failure(() => readSnapshot('/nonexistent-pibake.json')), 'cannot read snapshot /nonexistent-pibake.json: no such file')
})

test('reading a snapshot of another version fails naming the version', async () => {
  const dir = await tempDir()
  const file = join(dir.path, 'root.json')
  await writeFile(file, JSON.stringify({ ...valid(), version: 2 }))
  assert.match(await failure(() => readSnapshot(file)), 'is a pibake snapshot of version 2, and this pibake reads version 1')
})

test('reading a damaged snapshot names the bad field', async () => {
  const dir = await tempDir()
  const file = join(dir.path, 'root.json')
  const damaged = valid()
  await writeFile(file, JSON.stringify({ ...damaged, entries: [{ ...damaged.entries[0], mode: 'rwx' }] }))
  const message = await failure(() => readSnapshot(file))
  assert.match(message, 'is a damaged pibake snapshot')
  assert.match(message, 'entries[0].mode:')
})

test('reading a snapshot with a path twice fails naming the path', async () => {
  const dir = await tempDir()
  const file = join(dir.path, 'root.json')
  const twice = valid()
  await writeFile(file, JSON.stringify({ ...twice, entries: [...twice.entries, ...twice.entries] }))
  assert.match(await failure(() => readSnapshot(file)), 'entries: / appears more than once')
})

test('loadSnapshotSource takes a snapshot of a directory', async () => {
  const tree = await tempDir()
  await writeFixture(tree.path)
  const snapshot = await loadSnapshotSource(tree.path)
  assert.is(snapshot.source, tree.path)
  assert.ok(snapshot.entries.some((e) => e.path === '/etc/hostname'))
})

test('loadSnapshotSource reads a saved snapshot', async () => {
  const dir = await tempDir()
  const file = join(dir.path, 'root.json')
  await writeSnapshot(valid(), file)
  assert.equal(await loadSnapshotSource(file), valid())
})

test('loadSnapshotSource refuses a file that is neither', async () => {
  const dir = await tempDir()
  const file = join(dir.path, 'raspios.img')
  await writeFile(file, '')
  assert.match(await failure(() => loadSnapshotSource(file)), 'it is neither a directory nor a saved snapshot (.json)')
})

test.after.each(removeTempDirs)

test.run()
