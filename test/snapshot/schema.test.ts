import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { checkSnapshot, isPlainSnapshot, snapshotSchema } from '../../src/snapshot/schema.ts'
import { takeSnapshot } from '../../src/snapshot/take.ts'
import { removeTempDirs, tempDir, writeFixture } from './tree.ts'

test.after.each(removeTempDirs)

/** A snapshot as JSON gives it back: every kind of entry, xattrs, hard links, devices. */
async function fixtureData(): Promise<Record<string, unknown>> {
  const tree = await tempDir()
  await writeFixture(tree.path)
  return JSON.parse(JSON.stringify(await takeSnapshot(tree.path))) as Record<string, unknown>
}

test('a snapshot as pibake writes it takes the quick check, and reads back as the schema reads it', async () => {
  const data = await fixtureData()
  assert.ok(isPlainSnapshot(data))
  const checked = checkSnapshot(structuredClone(data))
  assert.ok('snapshot' in checked)
  assert.equal((checked as { snapshot: unknown }).snapshot, snapshotSchema.parse(data))
})

/** One change of one field of the first entry of each type, or of the snapshot itself: each a snapshot the schema may refuse. */
function variants(data: Record<string, unknown>): [string, Record<string, unknown>][] {
  const out: [string, Record<string, unknown>][] = []
  const values: unknown[] = [undefined, null, -1, 1.5, 0o10000, 2 ** 53, 'x', '/x', 'a'.repeat(64), 'A'.repeat(64), '0g', 'abc', '', [], {}, { major: 1 }, { major: 1, minor: 2, other: 3 }, { 'user.a': '00' }, { 'user.a': 'zz' }, { 'user.a': 1 }, true]
  const entries = data.entries as Record<string, unknown>[]
  const firstOfType = [...new Map(entries.map((e, i) => [e.type, i])).values()]
  for (const index of firstOfType) {
    for (const field of ['path', 'type', 'mode', 'uid', 'gid', 'size', 'sha256', 'target', 'rdev', 'xattrs', 'hardlink', 'mtime', 'extra']) {
      for (const value of values) {
        const copy = structuredClone(data)
        const entry = (copy.entries as Record<string, unknown>[])[index]!
        if (value === undefined) delete entry[field]
        else entry[field] = value
        out.push([`entries[${index}].${field} = ${JSON.stringify(value)}`, copy])
      }
    }
  }
  for (const field of ['format', 'version', 'source', 'taken', 'entries', 'extra']) {
    for (const value of [undefined, null, 1, 2, 'x', 'pibake-snapshot', [], [null], {}]) {
      const copy = structuredClone(data)
      if (value === undefined) delete copy[field]
      else copy[field] = value
      out.push([`${field} = ${JSON.stringify(value)}`, copy])
    }
  }
  return out
}

test('the quick check takes nothing the schema refuses or would change', async () => {
  const data = await fixtureData()
  let taken = 0
  for (const [change, variant] of variants(data)) {
    if (!isPlainSnapshot(variant)) continue
    taken++
    const parsed = snapshotSchema.safeParse(variant)
    assert.ok(parsed.success, `the quick check took a snapshot the schema refuses: ${change}`)
    assert.equal(parsed.data, variant, `the schema reads it otherwise: ${change}`)
  }
  // Some changes are snapshots all the same (another mode, another owner): the check is not simply "no".
  assert.ok(taken > 20, `only ${taken} changed snapshots taken`)
})

test('a snapshot the quick check leaves to the schema still says what is wrong', () => {
  const checked = checkSnapshot({ format: 'pibake-snapshot', version: 1, source: '/', taken: 'now', entries: [{ path: 'relative', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 }] })
  assert.equal(checked, { problems: ['entries[0].path: expected an absolute path'] })
})

test.run()
