/**
 * Boot files shrunk without changing what boots: a 64-bit kernel gzip-compressed (unpacked, the
 * same Image), a gzip initramfs recompressed with xz as the kernel's decoder reads it (CRC32 checks;
 * unpacked, the same cpio), a copy shrunk once, 32-bit kernels and files that are not what their
 * name says left alone, and a second pass changing nothing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { shrinkBootFiles } from '../../src/shrink/boot-files.ts'
import { exec } from '../../src/system/exec.ts'
import { cpio } from './cpio.ts'

/** An arm64 Image as far as the check goes: "ARM\x64" at byte 56, then compressible text. */
function arm64Image(): Buffer {
  const header = Buffer.alloc(64)
  header.write('ARMd', 56, 'latin1')
  return Buffer.concat([header, Buffer.from('kernel code '.repeat(20_000))])
}


test('kernels gzip, the initramfs xz (CRC32), a copy once, the rest left alone; a second pass changes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pibake-shrink-'))
  try {
    const image = arm64Image()
    const archive = cpio()
    const zimage = Buffer.from('a 32-bit zImage unpacks itself '.repeat(1000))
    writeFileSync(join(dir, 'kernel8.img'), image)
    writeFileSync(join(dir, 'kernel_2712.img'), image)
    writeFileSync(join(dir, 'kernel7l.img'), zimage)
    writeFileSync(join(dir, 'initramfs8'), gzipSync(archive))
    writeFileSync(join(dir, 'initramfs_2712'), archive)
    const first = await shrinkBootFiles(dir)
    assert.equal(first.map((r) => [r.file, r.how]), [
      ['kernel8.img', 'gzip'],
      ['kernel_2712.img', 'as kernel8.img'],
      ['initramfs8', 'xz'],
      ['initramfs_2712', 'left as it is: not gzip-compressed'],
    ])
    const kernel = readFileSync(join(dir, 'kernel8.img'))
    assert.ok(kernel.length < image.length / 10, `${kernel.length} bytes`)
    assert.ok(gunzipSync(kernel).equals(image), 'unpacked, the same Image')
    assert.ok(readFileSync(join(dir, 'kernel_2712.img')).equals(kernel))
    assert.ok(readFileSync(join(dir, 'kernel7l.img')).equals(zimage), 'a 32-bit kernel is not touched')
    const initramfs = join(dir, 'initramfs8')
    const unpacked = await exec(['sh', '-c', 'xz --decompress --stdout "$1" | od -An -v -tx1', 'sh', initramfs])
    assert.is(unpacked.stdout.replace(/\s+/g, ''), archive.toString('hex'), 'unpacked, the same cpio')
    const list = await exec(['xz', '--robot', '--list', initramfs])
    assert.match(list.stdout, /^file\t1\t1\t.*\tCRC32\t/m, 'one stream, one block, CRC32: what the kernel\'s decoder reads')
    assert.equal(readFileSync(join(dir, 'initramfs_2712')), archive)
    const again = await shrinkBootFiles(dir)
    assert.equal(again.map((r) => r.how), ['left as it is: already gzip', 'as kernel8.img', 'left as it is: not gzip-compressed', 'left as it is: not gzip-compressed'])
    assert.ok(readFileSync(join(dir, 'kernel8.img')).equals(kernel))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a file named kernel8.img that is no arm64 Image is left alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pibake-shrink-'))
  try {
    const other = Buffer.from('not a kernel '.repeat(100))
    writeFileSync(join(dir, 'kernel8.img'), other)
    assert.equal((await shrinkBootFiles(dir)).map((r) => r.how), ['left as it is: not an arm64 kernel image'])
    assert.ok(readFileSync(join(dir, 'kernel8.img')).equals(other))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
