/** A newc cpio holding one file, as mkinitramfs writes them: the initramfs of the shrink tests. */
export function cpio(): Buffer {
  const entry = (name: string, data: Buffer, mode: number) => {
    const fields = [1, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0].map((n) => n.toString(16).padStart(8, '0')).join('')
    const head = Buffer.from(`070701${fields}${name}\0`, 'latin1')
    const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4)
    return Buffer.concat([head, pad(head.length), data, pad(data.length)])
  }
  return Buffer.concat([entry('init', Buffer.from('#!/bin/sh\necho boot\n'.repeat(5000)), 0o100755), entry('TRAILER!!!', Buffer.alloc(0), 0)])
}
