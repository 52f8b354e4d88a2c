/** `pibake export` from the command line: a folder exported as it is, SOURCE_DATE_EPOCH, and its refusals. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { exec } from '../../src/system/exec.ts'
import { removeTempDirs, tempDir } from '../snapshot/tree.ts'

const repo = join(import.meta.dirname, '../..')
const pibake = (args: string[], env: Record<string, string> = {}) => exec([process.execPath, join(repo, 'bin/pibake.js'), ...args], { okCodes: [1, 2], env })

test.after.each(removeTempDirs)

test('a folder with SOURCE_DATE_EPOCH: times clamped to it, the same bytes twice', async () => {
  const src = (await tempDir('export-src')).path
  await writeFile(join(src, 'file'), 'x\n')
  const out = (await tempDir('export-out')).path
  const env = { SOURCE_DATE_EPOCH: '1000', TZ: 'UTC' }
  const first = await pibake(['export', src, '-o', join(out, 'a.tar.zst')], env)
  assert.is(first.exitCode, 0, first.stderr)
  assert.match(first.stderr, `written to ${join(out, 'a.tar.zst')}, times clamped to 1970-01-01T00:16:40.000Z`)
  await pibake(['export', src, '-o', join(out, 'b.tar.zst')], env)
  assert.ok((await readFile(join(out, 'a.tar.zst'))).equals(await readFile(join(out, 'b.tar.zst'))))
  const listing = (await exec(['tar', '--zstd', '--full-time', '-tvf', join(out, 'a.tar.zst')], { env })).stdout
  assert.match(listing, /1970-01-01 00:16:40 \.\/file$/m)
})

test('an output name that says no tarball kind, a bad SOURCE_DATE_EPOCH and a missing -o are refused', async () => {
  const src = (await tempDir('export-src')).path
  let result = await pibake(['export', src, '-o', join(src, '..', 'root.tgz')])
  assert.is(result.exitCode, 1)
  assert.match(result.stderr, 'root.tgz: the file name must end in .tar, .tar.xz, .tar.zst')
  result = await pibake(['export', src, '-o', join(src, '..', 'x.tar')], { SOURCE_DATE_EPOCH: 'yesterday' })
  assert.is(result.exitCode, 2)
  assert.match(result.stderr, 'SOURCE_DATE_EPOCH="yesterday" is not a number of seconds since 1970')
  result = await pibake(['export', src])
  assert.is(result.exitCode, 2)
  assert.match(result.stderr, 'export needs -o FILE')
})

test.run()
