/**
 * setfattr, to give a whole unpacked tree its extended attributes in ONE process (Node has no
 * xattr API): `setfattr --restore` reads the dump format `getfattr --dump` writes.
 */
import { exec } from './exec.ts'

/**
 * Sets `xattrs` (path relative to `dir`, `.` for `dir` itself → name → value bytes) without
 * following symlinks. Names and paths are escaped as getfattr escapes them.
 */
export async function restoreXattrs(dir: string, xattrs: ReadonlyMap<string, ReadonlyMap<string, Buffer>>, signal?: AbortSignal): Promise<void> {
  if (!xattrs.size) return
  const lines: string[] = []
  for (const [path, attrs] of xattrs) {
    lines.push(`# file: ${escape(path)}`)
    for (const [name, value] of attrs) lines.push(`${escape(name).replaceAll('=', '\\075')}=0x${value.toString('hex')}`)
    lines.push('')
  }
  await exec(['setfattr', '--no-dereference', '--restore=-'], {
    cwd: dir,
    input: `${lines.join('\n')}\n`,
    signal,
    hint: 'setfattr comes with the attr package (apt-get install attr); the file system must take extended attributes (security.* and trusted.* need root)',
  })
}

/** getfattr's escaping of a name: backslash, line breaks and other control bytes as `\ooo`. */
function escape(text: string): string {
  const bytes = Buffer.from(text, 'utf8')
  let out = ''
  for (const byte of bytes) out += byte === 0x5c || byte < 0x20 || byte === 0x7f ? `\\${byte.toString(8).padStart(3, '0')}` : String.fromCharCode(byte)
  return Buffer.from(out, 'latin1').toString('utf8')
}
