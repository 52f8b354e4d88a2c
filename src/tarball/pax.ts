/**
 * PAX extended headers (POSIX.1-2001) for what a ustar header cannot hold: long or non-ASCII
 * names, large owner ids, and extended attributes as `SCHILY.xattr.<name>` (GNU tar's, Go's and
 * libarchive's name for them).
 *
 * tar-stream writes and reads PAX records as UTF-8 text, but an xattr's value is bytes (a file
 * capability is binary): pibake writes its own records block (`paxBlock`), byte for byte, and a
 * value that is not UTF-8 also as libarchive's `LIBARCHIVE.xattr.<name>=<base64>`, which
 * `readXattrs` prefers, so that pibake's own archives keep every byte.
 */
import type { Header } from 'tar-stream'
import { aclFromText, aclToText } from './acl.ts'

/** Owner ids from here on do not fit a ustar header's 7 octal digits. */
const USTAR_ID_LIMIT = 0o7777777

/** GNU tar's keys for ACLs, which it restores from these (as text) and never from the xattrs. */
const ACL_KEYS: Readonly<Record<string, string>> = { 'system.posix_acl_access': 'SCHILY.acl.access', 'system.posix_acl_default': 'SCHILY.acl.default' }

const utf8 = new TextDecoder('utf-8', { fatal: true })

export interface PaxFields {
  readonly path?: string
  readonly linkpath?: string
  readonly uid?: number
  readonly gid?: number
  /** Name to value. */
  readonly xattrs?: Readonly<Record<string, Buffer>>
}

/** Whether a name fits a ustar header as it is (ASCII, at most 100 bytes). */
export function fitsUstar(name: string): boolean {
  return name.length <= 100 && /^[\x20-\x7e]*$/.test(name)
}

export function idFitsUstar(id: number): boolean {
  return id < USTAR_ID_LIMIT
}

/** The records of a PAX header, in a fixed order (path, linkpath, ids, then xattrs by name). */
export function paxRecords(fields: PaxFields): Buffer {
  const records: Buffer[] = []
  const add = (key: string, value: Buffer) => records.push(record(key, value))
  if (fields.path !== undefined) add('path', Buffer.from(fields.path, 'utf8'))
  if (fields.linkpath !== undefined) add('linkpath', Buffer.from(fields.linkpath, 'utf8'))
  if (fields.uid !== undefined) add('uid', Buffer.from(String(fields.uid)))
  if (fields.gid !== undefined) add('gid', Buffer.from(String(fields.gid)))
  for (const name of Object.keys(fields.xattrs ?? {}).sort()) {
    const value = fields.xattrs![name]!
    const acl = ACL_KEYS[name]
    const text = acl && aclToText(value)
    if (acl && text) add(acl, Buffer.from(text))
    add(`SCHILY.xattr.${name}`, value)
    if (!isUtf8(value)) add(`LIBARCHIVE.xattr.${encodeURIComponent(name)}`, Buffer.from(value.toString('base64')))
  }
  return Buffer.concat(records)
}

/** `<length> <key>=<value>\n`, where the length counts its own digits. */
function record(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(` ${key}=`) + value.length + 1
  let length = rest + String(rest).length
  if (String(length).length !== String(rest).length) length = rest + String(length).length
  return Buffer.concat([Buffer.from(`${length} ${key}=`), value, Buffer.from('\n')])
}

/** The extended header block(s) for `records`: a ustar header of type `x`, then the records padded to 512 bytes. */
export function paxBlock(records: Buffer, mtime: number): Buffer {
  const header = Buffer.alloc(512)
  header.write('PaxHeader', 0, 'ascii')
  octal(header, 100, 8, 0o644)
  octal(header, 108, 8, 0)
  octal(header, 116, 8, 0)
  octal(header, 124, 12, records.length)
  octal(header, 136, 12, Math.max(0, mtime))
  header.write('x', 156, 'ascii')
  header.write('ustar\x0000', 257, 'binary')
  header.fill(' ', 148, 156)
  let sum = 0
  for (const byte of header) sum += byte
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii')
  const padding = (512 - (records.length % 512)) % 512
  return Buffer.concat([header, records, Buffer.alloc(padding)])
}

function octal(buffer: Buffer, offset: number, length: number, value: number): void {
  buffer.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, 'ascii')
}

function isUtf8(value: Buffer): boolean {
  try {
    utf8.decode(value)
    return true
  } catch {
    return false
  }
}

/**
 * The xattrs an entry's PAX header carries, name to value: `LIBARCHIVE.xattr.*` (base64, exact)
 * where present, else `SCHILY.xattr.*`. tar-stream hands PAX values over as UTF-8 text, so a
 * SCHILY value that was not UTF-8 arrives damaged (U+FFFD in it): `damaged` names those.
 */
export function readXattrs(header: Header): { xattrs: Map<string, Buffer>; damaged: string[] } {
  const pax = (header.pax ?? {}) as Record<string, string>
  const xattrs = new Map<string, Buffer>()
  const damaged: string[] = []
  for (const [key, value] of Object.entries(pax)) {
    if (!key.startsWith('LIBARCHIVE.xattr.')) continue
    xattrs.set(decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(value, 'base64'))
  }
  for (const [key, value] of Object.entries(pax)) {
    if (!key.startsWith('SCHILY.xattr.')) continue
    const name = key.slice('SCHILY.xattr.'.length)
    if (xattrs.has(name)) continue
    if (value.includes('\uFFFD')) damaged.push(name)
    else xattrs.set(name, Buffer.from(value, 'utf8'))
  }
  // Archives of GNU tar carry ACLs as text only.
  for (const [name, key] of Object.entries(ACL_KEYS)) {
    const text = pax[key]
    if (text === undefined || xattrs.has(name)) continue
    const value = aclFromText(text)
    if (value) xattrs.set(name, value)
    else damaged.push(`${key} (${JSON.stringify(text)})`)
  }
  return { xattrs, damaged }
}

/** An owner id from the PAX header when it carries one (ids too large for ustar), else the ustar one. */
export function paxId(header: Header, key: 'uid' | 'gid'): number {
  const value = (header.pax as Record<string, string> | null | undefined)?.[key]
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : header[key]
}
