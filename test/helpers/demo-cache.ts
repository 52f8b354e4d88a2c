/**
 * A demo image's decompressed copy, seeded into an out dir's image cache (`<out>/cache/images/`,
 * where the image stage keeps an .img.xz decompressed, by the .xz's sha256) as a hard link to the
 * one the demo builder wrote beside its .xz (out/demo/raspios-demo-*.img: the same bytes). Every
 * test that builds a demo recipe into a fresh out dir would otherwise decompress 1.4–1.7 GB again
 * (~22 s each here, minutes over the suite). The image stage still checks the .xz's sha256 and the
 * copy's size against the .xz before it uses it, and opens it read-only. The decompression itself is
 * tested on images of its own (test/pipeline/xz-checksum.test.ts, test/demo/).
 */
import { link, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { decompressedImageFile } from '../../src/stages/image.ts'

export async function seedDecompressedImage(out: string, image: { readonly img: string; readonly sha256: string }): Promise<void> {
  const target = decompressedImageFile(join(out, 'cache'), image.sha256)
  await mkdir(dirname(target), { recursive: true })
  // Already there (a kept out dir), or another file system: the build decompresses as it would.
  await link(image.img, target).catch(() => undefined)
}
