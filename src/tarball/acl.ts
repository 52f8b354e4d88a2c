/**
 * POSIX ACLs in the two forms archives carry them: the kernel's xattr value
 * (`system.posix_acl_access`, `system.posix_acl_default`) and the text GNU tar writes and reads
 * as `SCHILY.acl.access` / `SCHILY.acl.default` (`user::rw-,user:1234:r--,group::r--,mask::r--,other::r--`),
 * owners by number. GNU tar (and so `machinectl import-tar`) restores ACLs from the text only.
 */

const VERSION = 2
const TAGS: readonly [number, string][] = [
  [0x01, 'user'],
  [0x02, 'user'],
  [0x04, 'group'],
  [0x08, 'group'],
  [0x10, 'mask'],
  [0x20, 'other'],
]
/** Tags whose entries name an owner by number. */
const NAMED = new Set([0x02, 0x08])
const UNDEFINED_ID = 0xffffffff

/** The text form of an ACL xattr value, or undefined when it is not one. */
export function aclToText(value: Buffer): string | undefined {
  if (value.length < 4 || (value.length - 4) % 8 !== 0 || value.readUInt32LE(0) !== VERSION) return undefined
  const entries: string[] = []
  for (let offset = 4; offset < value.length; offset += 8) {
    const tag = value.readUInt16LE(offset)
    const perm = value.readUInt16LE(offset + 2)
    const id = value.readUInt32LE(offset + 4)
    const name = TAGS.find(([bits]) => bits === tag)?.[1]
    if (!name) return undefined
    entries.push(`${name}:${NAMED.has(tag) ? id : ''}:${perm & 4 ? 'r' : '-'}${perm & 2 ? 'w' : '-'}${perm & 1 ? 'x' : '-'}`)
  }
  return entries.join(',')
}

/** The xattr value of an ACL's text form (numeric owners only), or undefined when it is not one. */
export function aclFromText(text: string): Buffer | undefined {
  const entries: Buffer[] = []
  for (const item of text.split(/[,\n]/).map((part) => part.trim()).filter(Boolean)) {
    const match = /^(user|group|mask|other):(\d*):([r-][w-][x-])$/.exec(item.replace(/#.*$/, '').trim())
    if (!match) return undefined
    const [, kind, id, perms] = match as unknown as [string, string, string, string]
    const tag = kind === 'user' ? (id ? 0x02 : 0x01) : kind === 'group' ? (id ? 0x08 : 0x04) : kind === 'mask' ? 0x10 : 0x20
    const entry = Buffer.alloc(8)
    entry.writeUInt16LE(tag, 0)
    entry.writeUInt16LE((perms[0] === 'r' ? 4 : 0) | (perms[1] === 'w' ? 2 : 0) | (perms[2] === 'x' ? 1 : 0), 2)
    entry.writeUInt32LE(id ? Number(id) : UNDEFINED_ID, 4)
    entries.push(entry)
  }
  // The kernel keeps entries sorted by tag, then id.
  entries.sort((a, b) => a.readUInt16LE(0) - b.readUInt16LE(0) || a.readUInt32LE(4) - b.readUInt32LE(4))
  const header = Buffer.alloc(4)
  header.writeUInt32LE(VERSION, 0)
  return entries.length ? Buffer.concat([header, ...entries]) : undefined
}
