/**
 * ustar headers, byte for byte as tar-stream 3 writes them (its encoder is not exported): octal
 * fields with a trailing space, a 6-digit checksum, sizes from 8 GiB on in base 256. pack.ts
 * writes them straight into its output chunks, with the file contents, and no stream per entry.
 */

export interface UstarHeader {
  /** ASCII, at most 100 bytes (longer or other names go in a PAX header first). */
  readonly name: string
  readonly typeflag: number
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly size: number
  /** Seconds since the epoch. */
  readonly mtime: number
  readonly linkname: string
  readonly devmajor: number
  readonly devminor: number
}

/** Type flags by tar-stream's type names (pack.ts's entry types). */
export const TYPEFLAGS: Readonly<Record<string, number>> = { file: 0, link: 1, symlink: 2, 'character-device': 3, 'block-device': 4, directory: 5, fifo: 6 }

/** Writes the 512-byte header of `header` into `block` (zeroed) at `offset`. */
export function encodeUstar(header: UstarHeader, block: Buffer, offset: number): void {
  block.fill(0, offset, offset + 512)
  block.write(header.name, offset, 'latin1')
  block.write(octal(header.mode & 0o7777, 6), offset + 100, 'latin1')
  block.write(octal(header.uid, 6), offset + 108, 'latin1')
  block.write(octal(header.gid, 6), offset + 116, 'latin1')
  if (header.size.toString(8).length > 11) base256(header.size, block, offset + 124)
  else block.write(octal(header.size, 11), offset + 124, 'latin1')
  block.write(octal(header.mtime | 0, 11), offset + 136, 'latin1')
  block[offset + 156] = 0x30 + header.typeflag
  if (header.linkname) block.write(header.linkname, offset + 157, 'latin1')
  block.write('ustar\x0000', offset + 257, 'latin1')
  block.write(octal(header.devmajor, 6), offset + 329, 'latin1')
  block.write(octal(header.devminor, 6), offset + 337, 'latin1')
  let sum = 8 * 32
  for (let i = offset; i < offset + 148; i++) sum += block[i]!
  for (let i = offset + 156; i < offset + 512; i++) sum += block[i]!
  block.write(octal(sum, 6), offset + 148, 'latin1')
}

function octal(value: number, digits: number): string {
  const text = value.toString(8)
  return text.length > digits ? `${'7'.repeat(digits)} ` : `${text.padStart(digits, '0')} `
}

function base256(value: number, block: Buffer, offset: number): void {
  block[offset] = 0x80
  for (let i = 11; i > 0; i--) {
    block[offset + i] = value & 0xff
    value = Math.floor(value / 0x100)
  }
}
