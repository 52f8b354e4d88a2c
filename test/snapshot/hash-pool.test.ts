import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HashPool } from '../../src/snapshot/hash-pool.ts'
import { removeTempDirs, tempDir } from './tree.ts'

test.after(removeTempDirs)

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

test('hashes every file whole, across batches, sizes and workers, each answer to its own file', async () => {
  const dir = await tempDir()
  // 0 bytes, one byte, around the worker's 1 MiB read buffer, around a 4 MiB batch, and many small ones.
  const sizes = [0, 1, 2 ** 20 - 1, 2 ** 20, 2 ** 20 + 1, 4 * 2 ** 20 + 3, 9 * 2 ** 20 + 7, ...Array.from({ length: 300 }, (_, i) => i * 37)]
  const files = await Promise.all(sizes.map(async (size, i) => {
    const path = join(dir.path, `f${i}`)
    await writeFile(path, Buffer.alloc(size, i % 251).map((b, j) => (b + j) % 256))
    return { path, size }
  }))
  const pool = new HashPool(3)
  try {
    const hashed = await Promise.all(files.map((f) => pool.hash(f.path, f.size)))
    const expected = await Promise.all(files.map(async (f) => sha256(await readFile(f.path))))
    assert.equal(hashed, expected)
    assert.is(pool.backlog, 0)
  } finally {
    await pool.close()
  }
})

test('hashes what a file holds now, also when it grew after lstat', async () => {
  const dir = await tempDir()
  const path = join(dir.path, 'growing')
  await writeFile(path, 'small')
  await appendFile(path, Buffer.alloc(3 * 2 ** 20, 7))
  const pool = new HashPool(1)
  try {
    assert.is(await pool.hash(path, 5), sha256(await readFile(path)))
  } finally {
    await pool.close()
  }
})

test('a file that cannot be read fails with the error code and path, the others still hash', async () => {
  const dir = await tempDir()
  await writeFile(join(dir.path, 'here'), 'here')
  const pool = new HashPool(2)
  try {
    const [missing, here] = await Promise.allSettled([pool.hash(join(dir.path, 'gone'), 10), pool.hash(join(dir.path, 'here'), 4)])
    assert.is(missing.status, 'rejected')
    const error = (missing as PromiseRejectedResult).reason as NodeJS.ErrnoException
    assert.instance(error, Error)
    assert.is(error.code, 'ENOENT')
    assert.is(error.path, join(dir.path, 'gone'))
    assert.match(error.message, `ENOENT: no such file or directory, open '${join(dir.path, 'gone')}'`)
    assert.equal(here, { status: 'fulfilled', value: sha256(Buffer.from('here')) })
  } finally {
    await pool.close()
  }
})

test('closing fails every file not hashed yet with the reason, and any given afterwards', async () => {
  const dir = await tempDir()
  const path = join(dir.path, 'big')
  await writeFile(path, Buffer.alloc(8 * 2 ** 20))
  const pool = new HashPool(1)
  const reason = new Error('stop')
  const pending = Promise.allSettled(Array.from({ length: 20 }, () => pool.hash(path, 8 * 2 ** 20)))
  const backlogDrained = pool.backlogBelow(1)
  await pool.close(reason)
  for (const result of await pending) assert.equal(result, { status: 'rejected', reason })
  await backlogDrained
  try {
    await pool.hash(path, 1)
    assert.unreachable()
  } catch (error) {
    assert.is(error, reason)
  }
})

test.run()
