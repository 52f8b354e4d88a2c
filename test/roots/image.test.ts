/**
 * The root image (squashfs, image.ts): the compression the image's kernels read, and the image made
 * with the real mksquashfs from a small tree, kept under the publish key and made again only when
 * the content changes; the same tree made twice is the same image, byte for byte, dated by the
 * build's SOURCE_DATE_EPOCH, the files keeping their own times.
 */
import { readFile, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
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
/** A build's SOURCE_DATE_EPOCH: 2024-11-19 12:00 UTC. */
const EPOCH = 1_732_017_600

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
  const first = await rootImage(cache, 'workers', 'a'.repeat(64), root, { epoch: EPOCH, onProgress: (done) => progress.push(done) })
  assert.ok(first.made, 'made')
  assert.is(first.compressor, 'zstd')
  const { stdout } = await exec(['unsquashfs', '-l', '-d', '', first.path])
  assert.match(stdout, /^\/usr\/local\/bin\/hello$/m)
  assert.equal(await lastImage(cache, 'workers'), { key: 'a'.repeat(64), bytes: first.bytes, compressor: 'zstd' })
  const again = await rootImage(cache, 'workers', 'a'.repeat(64), root, { epoch: EPOCH })
  assert.is(again.made, false, 'the same content: the image is reused')
  assert.is(again.path, first.path)
  const other = await rootImage(cache, 'workers-b', 'c'.repeat(64), root, { epoch: EPOCH })
  const changed = await rootImage(cache, 'workers', 'b'.repeat(64), root, { epoch: EPOCH })
  assert.ok(changed.made, 'a new key: made again')
  const names = (await readdir(join(cache, 'roots'))).sort()
  assert.equal(names, [`workers-b-${'c'.repeat(32)}.squashfs`, 'workers-b.json', `workers-${'b'.repeat(32)}.squashfs`, 'workers.json'], 'the old image of workers is gone, the other recipe\'s stays')
  assert.ok(other.path.endsWith(`workers-b-${'c'.repeat(32)}.squashfs`))
})

test('the same tree made twice, a second apart, is the same image byte for byte: dated by the epoch, the files keeping their own times', async () => {
  const root = await kernelConfigs(`${SQUASHFS}CONFIG_SQUASHFS_XZ=y\nCONFIG_SQUASHFS_ZSTD=y\n`)
  await mkdir(join(root, 'etc'), { recursive: true })
  await writeFile(join(root, 'etc/hostname'), 'node\n')
  await utimes(join(root, 'etc/hostname'), 1_600_000_000, 1_600_000_000)
  const first = await rootImage(join(dir, 'cache-1'), 'workers', 'a'.repeat(64), root, { epoch: EPOCH })
  await sleep(1100)
  const second = await rootImage(join(dir, 'cache-2'), 'workers', 'a'.repeat(64), root, { epoch: EPOCH })
  assert.ok(first.made && second.made, 'made twice, in two caches')
  assert.ok((await readFile(first.path)).equals(await readFile(second.path)), 'the two images are the same bytes')
  const { stdout } = await exec(['unsquashfs', '-s', first.path])
  assert.match(stdout, new RegExp(`^Creation or last append time ${new Date(EPOCH * 1000).toUTCString().slice(0, 3)}`, 'm'), `created at the epoch: ${stdout}`)
  const listing = await exec(['unsquashfs', '-lln', '-d', '', first.path], { env: { TZ: 'UTC' } })
  assert.match(listing.stdout, /^-rw-r--r-- 0\/0 +5 2020-09-13 12:26 \/etc\/hostname$/m, `the file keeps its own time: ${listing.stdout}`)
})

test('SOURCE_DATE_EPOCH in the environment changes nothing: mksquashfs would set every file to it, and refuse it beside the creation time', async () => {
  const root = await kernelConfigs(`${SQUASHFS}CONFIG_SQUASHFS_XZ=y\nCONFIG_SQUASHFS_ZSTD=y\n`)
  await writeFile(join(root, 'file'), 'content\n')
  await utimes(join(root, 'file'), 1_600_000_000, 1_600_000_000)
  const plain = await rootImage(join(dir, 'cache-1'), 'workers', 'a'.repeat(64), root, { epoch: EPOCH })
  const saved = process.env.SOURCE_DATE_EPOCH
  process.env.SOURCE_DATE_EPOCH = '1000'
  try {
    const withEnv = await rootImage(join(dir, 'cache-2'), 'workers', 'a'.repeat(64), root, { epoch: EPOCH })
    assert.ok((await readFile(plain.path)).equals(await readFile(withEnv.path)), 'the same bytes as without it')
  } finally {
    if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH
    else process.env.SOURCE_DATE_EPOCH = saved
  }
})

test.run()
