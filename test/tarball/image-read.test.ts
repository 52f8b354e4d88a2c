/**
 * A compressed root tarball larger than the reads it is fed in (1 MiB, into two buffers used in
 * turn): it comes out whole, and the sha256 the import reports is the file's own, for .tar.zst
 * and .tar.xz alike.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pack } from 'tar-stream'
import { writeTarball } from '../../src/tarball/compression.ts'
import { unpackImageTarball } from '../../src/tarball/image.ts'
import { removeTempDirs, tempDir } from '../snapshot/tree.ts'

test.after.each(removeTempDirs)

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** 6 files of 1 MiB of random bytes (incompressible: the compressed file is as large). */
async function tarOf(files: readonly Buffer[]): Promise<Buffer> {
  const stream = pack()
  const chunks: Buffer[] = []
  const collected = (async () => {
    for await (const chunk of stream) chunks.push(chunk as Buffer)
  })()
  for (const [index, body] of files.entries()) {
    await new Promise<void>((resolve, reject) => stream.entry({ name: `f${index}`, mode: 0o644 }, body, (error) => (error ? reject(error) : resolve())))
  }
  stream.finalize()
  await collected
  return Buffer.concat(chunks)
}

for (const suffix of ['tar.zst', 'tar.xz']) {
  test(`a ${suffix} of 6 MiB is read whole, and its sha256 is the file's`, async () => {
    const files = Array.from({ length: 6 }, () => randomBytes(1 << 20))
    const dir = (await tempDir('tarball-read')).path
    const file = join(dir, `root.${suffix}`)
    await writeTarball(Readable.from([await tarOf(files)]), file)
    const target = join(dir, 'cache/tree')
    const reported = await unpackImageTarball(file, target, { as: 'root' })
    assert.is(reported, sha256(await readFile(file)))
    for (const [index, body] of files.entries()) assert.is(sha256(await readFile(join(target, 'root', `f${index}`))), sha256(body), `f${index}`)
  })
}

test.run()
