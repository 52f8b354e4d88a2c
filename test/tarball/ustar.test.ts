/**
 * pibake's ustar headers against tar-stream's, which wrote pibake's archives before: the same
 * header gives the same 512 bytes, so a build exports to the same archive as it always did.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { pack, type Header } from 'tar-stream'
import { encodeUstar, TYPEFLAGS } from '../../src/tarball/ustar.ts'

/** The first block tar-stream writes for `header`: its ustar header. */
async function firstBlock(header: Header): Promise<Buffer> {
  const stream = pack()
  stream.entry({ ...header }, () => {})
  for await (const chunk of stream) return (chunk as Buffer).subarray(0, 512)
  throw new Error('tar-stream wrote nothing')
}

const base = { mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, linkname: '', devmajor: 0, devminor: 0 }

const cases: { readonly what: string; readonly type: NonNullable<Header['type']>; readonly header: Partial<typeof base> & { name: string } }[] = [
  { what: 'a folder', type: 'directory', header: { name: './etc/' } },
  { what: 'a setuid file', type: 'file', header: { name: './usr/bin/sudo', mode: 0o4755, size: 123_456 } },
  { what: 'a file of 100-byte name', type: 'file', header: { name: `./${'n'.repeat(98)}`, size: 1 } },
  { what: 'a file from 8 GiB on (base-256 size)', type: 'file', header: { name: './big', size: 9 * 2 ** 30 + 7 } },
  { what: 'large ids', type: 'file', header: { name: './ids', uid: 0o7777776, gid: 65_534 } },
  { what: 'a symlink', type: 'symlink', header: { name: './lib', linkname: 'usr/lib', mode: 0o777 } },
  { what: 'a hard link', type: 'link', header: { name: './b', linkname: './a', mode: 0o644 } },
  { what: 'a character device', type: 'character-device', header: { name: './dev/null', mode: 0o666, devmajor: 1, devminor: 3 } },
  { what: 'a block device', type: 'block-device', header: { name: './dev/loop0', mode: 0o660, devmajor: 7, devminor: 255 } },
  { what: 'a FIFO at time 0', type: 'fifo', header: { name: './run/initctl', mode: 0o600, mtime: 0 } },
]

for (const { what, type, header } of cases) {
  test(`${what}: the same header as tar-stream's`, async () => {
    const h = { ...base, ...header }
    const ours = Buffer.alloc(1024, 0xff)
    encodeUstar({ ...h, typeflag: TYPEFLAGS[type]! }, ours, 256)
    // tar-stream takes the file type bits too, and times as dates.
    const bits = { file: 0o100000, link: 0o100000, directory: 0o040000, symlink: 0o120000, 'character-device': 0o020000, 'block-device': 0o060000, fifo: 0o010000 }[type as string]!
    const theirs = await firstBlock({ ...h, type, mode: bits | h.mode, mtime: new Date(h.mtime * 1000) } as Header)
    assert.equal(ours.subarray(256, 768).toString('hex'), theirs.toString('hex'))
    assert.equal(ours[255], 0xff, 'nothing written before the block')
    assert.equal(ours[768], 0xff, 'nothing written after it')
  })
}

test.run()
