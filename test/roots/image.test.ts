/**
 * The root image (squashfs, root.ts): the compression the image's kernels read, and the image made
 * with the real mksquashfs from a small tree, kept under the publish key and made again only when
 * the content changes.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { imageCompressor, lastImage, rootImage } from '../../src/roots/image.ts'
import { exec } from '../../src/system/exec.ts'

let dir: string

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-roots-image-'))
})

test.after.each(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function kernelConfigs(...configs: string[]): Promise<string> {
  const root = join(dir, 'root')
  await mkdir(join(root, 'boot'), { recursive: true })
  for (const [index, text] of configs.entries()) await writeFile(join(root, 'boot', `config-6.1.0-${index}`), text)
  return root
}

async function refused(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e)
  assert.instance(error, Error, 'refused')
  assert.match((error as Error).message, message)
}

const SQUASHFS = 'CONFIG_SQUASHFS=m\nCONFIG_SQUASHFS_ZLIB=y\n'

test('zstd when every kernel reads it, else xz, else gzip', async () => {
  assert.is(await imageCompressor(await kernelConfigs(`${SQUASHFS}CONFIG_SQUASHFS_XZ=y\nCONFIG_SQUASHFS_ZSTD=y\n`)), 'zstd')
  await rm(join(dir, 'root'), { recursive: true })
  assert.is(await imageCompressor(await kernelConfigs(`${SQUASHFS}CONFIG_SQUASHFS_XZ=y\nCONFIG_SQUASHFS_ZSTD=y\n`, `${SQUASHFS}CONFIG_SQUASHFS_XZ=y\n# CONFIG_SQUASHFS_ZSTD is not set\n`)), 'xz')
  await rm(join(dir, 'root'), { recursive: true })
  assert.is(await imageCompressor(await kernelConfigs(SQUASHFS)), 'gzip')
})

test('refused: a kernel without squashfs, or no kernel configuration to tell', async () => {
  await refused(imageCompressor(await kernelConfigs('# CONFIG_SQUASHFS is not set\nCONFIG_SQUASHFS_ZLIB=y\n')), /cannot mount a squashfs image/)
  await rm(join(dir, 'root'), { recursive: true })
  await mkdir(join(dir, 'root'))
  await refused(imageCompressor(join(dir, 'root')), /no kernel configuration in \/boot/)
})

test('the image holds the tree; the same key reuses it, a new key makes a new one and drops the old', async () => {
  const root = await kernelConfigs(`${SQUASHFS}CONFIG_SQUASHFS_XZ=y\nCONFIG_SQUASHFS_ZSTD=y\n`)
  await mkdir(join(root, 'usr/local/bin'), { recursive: true })
  await writeFile(join(root, 'usr/local/bin/hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 })
  const cache = join(dir, 'cache')
  const progress: number[] = []
  const first = await rootImage(cache, 'workers', 'a'.repeat(64), root, { onProgress: (done) => progress.push(done) })
  assert.ok(first.made, 'made')
  assert.is(first.compressor, 'zstd')
  const { stdout } = await exec(['unsquashfs', '-l', '-d', '', first.path])
  assert.match(stdout, /^\/usr\/local\/bin\/hello$/m)
  assert.equal(await lastImage(cache, 'workers'), { key: 'a'.repeat(64), bytes: first.bytes, compressor: 'zstd' })
  const again = await rootImage(cache, 'workers', 'a'.repeat(64), root)
  assert.is(again.made, false, 'the same content: the image is reused')
  assert.is(again.path, first.path)
  const other = await rootImage(cache, 'workers-b', 'c'.repeat(64), root)
  const changed = await rootImage(cache, 'workers', 'b'.repeat(64), root)
  assert.ok(changed.made, 'a new key: made again')
  const names = (await readdir(join(cache, 'roots'))).sort()
  assert.equal(names, [`workers-b-${'c'.repeat(32)}.squashfs`, 'workers-b.json', `workers-${'b'.repeat(32)}.squashfs`, 'workers.json'], 'the old image of workers is gone, the other recipe\'s stays')
  assert.ok(other.path.endsWith(`workers-b-${'c'.repeat(32)}.squashfs`))
})

test.run()
