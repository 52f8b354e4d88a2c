/**
 * Fewer bytes for every node to pull over TFTP, the same system booting: each 64-bit kernel
 * gzip-compressed (the Raspberry Pi firmware recognises a gzip archive of a 64-bit kernel by its
 * signature bytes and unpacks it: "64-bit kernels may be uncompressed image files or a gzip archive
 * of an image", config.txt's `kernel` documentation), and each gzip initramfs recompressed with xz
 * (the firmware loads the initramfs as it is; the kernel unpacks it: Debian's arm64 kernel has
 * CONFIG_RD_XZ=y). What is inside either file does not change: the kernel's image and the
 * initramfs's cpio are byte for byte the same once unpacked. The demo's files, as the boot test
 * (test/boot/nfs-tier.test.ts) publishes and boots them: kernel8.img 32,956,352 → 11,538,320
 * bytes, initramfs8 7,380,499 → 5,265,712. `netboot.shrinkBoot` runs it in the netboot stage.
 *
 * 32-bit kernels (kernel7*.img) are zImages that unpack themselves: left alone. A file that is not
 * what its name says (not an arm64 Image, not a single gzip cpio) is left alone and said. Each
 * distinct file is compressed once (kernel_2712.img is often a copy of kernel8.img), written beside
 * the original and renamed over it.
 */
import { createHash } from 'node:crypto'
import { copyFile, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gunzipSync, gzipSync, constants } from 'node:zlib'
import { xzForKernel } from '../system/xz.ts'

/** The 64-bit kernel names the firmware asks for (Pi 3/4: kernel8.img; Pi 5: kernel_2712.img). */
const KERNELS = ['kernel8.img', 'kernel_2712.img'] as const
/** The initramfs names the firmware pairs with each kernel (`auto_initramfs`). */
export const INITRAMFS = ['initramfs8', 'initramfs_2712', 'initramfs7', 'initramfs7l'] as const

export interface Shrunk {
  readonly file: string
  readonly before: number
  readonly after: number
  /** `gzip`, `xz`, or why the file was left as it was. */
  readonly how: string
}

/** Shrinks the boot files in `dir` (a build's boot folder) in place; says what it did to each. */
export async function shrinkBootFiles(dir: string, signal?: AbortSignal): Promise<Shrunk[]> {
  const names = new Set(await readdir(dir))
  const done = new Map<string, string>()
  const results: Shrunk[] = []
  for (const name of [...KERNELS, ...INITRAMFS]) {
    if (!names.has(name)) continue
    const path = join(dir, name)
    const bytes = await readFile(path)
    const sha = createHash('sha256').update(bytes).digest('hex')
    const twin = done.get(sha)
    if (twin) {
      // The same file as one already shrunk: a copy of that one.
      await copyFile(twin, `${path}.pibake-shrink`)
      await rename(`${path}.pibake-shrink`, path)
      results.push({ file: name, before: bytes.length, after: (await stat(path)).size, how: `as ${twin.slice(dir.length + 1)}` })
      continue
    }
    const how = (KERNELS as readonly string[]).includes(name) ? await gzipKernel(path, bytes) : await xzInitramfs(path, bytes, signal)
    done.set(sha, path)
    results.push({ file: name, before: bytes.length, after: (await stat(path)).size, how })
  }
  return results
}

/** An arm64 Image carries "ARM\x64" at byte 56 (the kernel's booting.rst). */
export function isArm64Image(bytes: Buffer): boolean {
  return bytes.length > 64 && bytes.readUInt32LE(56) === 0x644d5241
}

/** gzip's magic bytes, 1f 8b. */
export function isGzip(bytes: Buffer): boolean {
  return bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b
}

async function gzipKernel(path: string, bytes: Buffer): Promise<string> {
  if (isGzip(bytes)) return 'left as it is: already gzip'
  if (!isArm64Image(bytes)) return 'left as it is: not an arm64 kernel image'
  // No name and no time in the header: the same kernel gives the same bytes.
  await replace(path, gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION }))
  return 'gzip'
}

async function xzInitramfs(path: string, bytes: Buffer, signal?: AbortSignal): Promise<string> {
  if (!isGzip(bytes)) return 'left as it is: not gzip-compressed'
  let cpio: Buffer
  try {
    cpio = gunzipSync(bytes)
  } catch {
    return 'left as it is: not a whole gzip stream'
  }
  if (cpio.subarray(0, 6).toString('latin1') !== '070701') return 'left as it is: not a cpio archive inside'
  const plain = `${path}.pibake-cpio`
  const packed = `${path}.pibake-shrink`
  try {
    await writeFile(plain, cpio)
    await xzForKernel(plain, packed, signal)
    if ((await stat(packed)).size >= bytes.length) return 'left as it is: xz is no smaller'
    await rename(packed, path)
    return 'xz'
  } finally {
    await rm(plain, { force: true })
    await rm(packed, { force: true })
  }
}

async function replace(path: string, bytes: Buffer): Promise<void> {
  await writeFile(`${path}.pibake-shrink`, bytes)
  await rename(`${path}.pibake-shrink`, path)
}
