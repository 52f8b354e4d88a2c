/**
 * Lists the files in an initramfs: one or more "newc" cpio archives, each plain or compressed
 * (gzip, zstd, xz needs the xz tool and is not handled here), concatenated. Enough to check what
 * update-initramfs put in, without cpio or lsinitramfs on the host.
 */
import { readFile } from 'node:fs/promises'
import { gunzipSync, zstdDecompressSync } from 'node:zlib'
import { PibakeError } from '../errors.ts'

const NEWC_MAGIC = '070701'
const HEADER_SIZE = 110

export async function listInitramfs(path: string): Promise<string[]> {
  return listCpio(await readFile(path), path)
}

export function listCpio(data: Buffer, what = 'initramfs'): string[] {
  const names: string[] = []
  let offset = 0
  while (offset < data.length) {
    if (data[offset] === 0) {
      offset++
      continue
    }
    const magic = data.subarray(offset, offset + 6)
    if (magic.toString('latin1') === NEWC_MAGIC) {
      offset = readArchive(data, offset, names, what)
    } else if (magic[0] === 0x1f && magic[1] === 0x8b) {
      return [...names, ...listCpio(gunzipSync(data.subarray(offset)), what)]
    } else if (magic.readUInt32LE(0) === 0xfd2fb528) {
      return [...names, ...listCpio(zstdDecompressSync(data.subarray(offset)), what)]
    } else {
      throw new PibakeError(`${what}: unknown data at byte ${offset} (not newc cpio, gzip or zstd)`)
    }
  }
  return names
}

/** Reads one archive from `offset` up to its TRAILER!!! entry; returns the offset after it. */
function readArchive(data: Buffer, start: number, names: string[], what: string): number {
  let offset = start
  for (;;) {
    if (data.subarray(offset, offset + 6).toString('latin1') !== NEWC_MAGIC) {
      throw new PibakeError(`${what}: broken cpio header at byte ${offset}`)
    }
    const field = (index: number) => parseInt(data.subarray(offset + 6 + index * 8, offset + 14 + index * 8).toString('latin1'), 16)
    const fileSize = field(6)
    const nameSize = field(11)
    const name = data.subarray(offset + HEADER_SIZE, offset + HEADER_SIZE + nameSize - 1).toString('utf8')
    offset = align4(align4(offset + HEADER_SIZE + nameSize) + fileSize)
    if (name === 'TRAILER!!!') return offset
    names.push(name)
  }
}

function align4(n: number): number {
  return (n + 3) & ~3
}
