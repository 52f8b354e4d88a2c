/** The image's own users and groups, read from its `/etc/passwd` and `/etc/group` on the host side. */
import { readFile } from 'node:fs/promises'
import { PibakeError } from '../errors.ts'
import type { Owner } from '../recipe/types.ts'
import { resolveInRoot } from '../system/inroot.ts'

export interface Account {
  readonly name: string
  readonly uid: number
  readonly gid: number
  readonly home: string
  readonly shell: string
}

export interface GroupEntry {
  readonly name: string
  readonly gid: number
  readonly members: readonly string[]
}

async function lines(root: string, path: string): Promise<string[][]> {
  const text = await readFile(await resolveInRoot(root, path, { followLast: true }), 'utf8')
  return text.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => line.split(':'))
}

export async function readUsers(root: string): Promise<Map<string, Account>> {
  const users = new Map<string, Account>()
  for (const [name = '', , uid = '', gid = '', , home = '', shell = ''] of await lines(root, '/etc/passwd')) {
    users.set(name, { name, uid: Number(uid), gid: Number(gid), home, shell })
  }
  return users
}

export async function readGroups(root: string): Promise<Map<string, GroupEntry>> {
  const groups = new Map<string, GroupEntry>()
  for (const [name = '', , gid = '', members = ''] of await lines(root, '/etc/group')) {
    groups.set(name, { name, gid: Number(gid), members: members ? members.split(',') : [] })
  }
  return groups
}

/** Numeric ids for an owner as a recipe writes it (`pi`, `pi:adm`, `1000:1000`), looked up in the image. */
export async function resolveOwner(root: string, owner: Owner): Promise<{ uid: number; gid: number }> {
  const users = await readUsers(root)
  const groups = await readGroups(root)
  const hint = 'users and groups must exist in the image or be made by an earlier users or groups step'
  const user = /^\d+$/.test(owner.user) ? { uid: Number(owner.user), gid: undefined } : users.get(owner.user)
  if (!user) throw new PibakeError(`there is no user "${owner.user}" in the image`, hint)
  if (owner.group === undefined) {
    const gid = user.gid ?? [...users.values()].find((u) => u.uid === user.uid)?.gid
    return { uid: user.uid, gid: gid ?? user.uid }
  }
  const gid = /^\d+$/.test(owner.group) ? Number(owner.group) : groups.get(owner.group)?.gid
  if (gid === undefined) throw new PibakeError(`there is no group "${owner.group}" in the image`, hint)
  return { uid: user.uid, gid }
}
