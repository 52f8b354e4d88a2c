/**
 * `users` and `groups` steps, made with the image's own shadow tools (groupadd, useradd, usermod,
 * chpasswd) so that passwd, shadow, group and gshadow stay consistent and keep their owners and
 * modes (`/etc/shadow` stays root:shadow 0640). Authorised SSH keys are written from the host side.
 */
import { chmod, chown, lstat, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import type { GroupsStep, User, UsersStep } from '../recipe/types.ts'
import { resolveInRoot } from '../system/inroot.ts'
import type { StepContext } from './context.ts'
import { readGroups, readUsers, type Account } from './passwd.ts'

export async function makeGroups(step: GroupsStep, ctx: StepContext): Promise<void> {
  for (const group of step.groups) {
    const existing = (await readGroups(ctx.root)).get(group.name)
    if (existing) {
      if (group.gid !== undefined && existing.gid !== group.gid) {
        throw new PibakeError(`group ${group.name} exists in the image with gid ${existing.gid}, the recipe says ${group.gid}`, 'leave gid out, or use another group name')
      }
      ctx.info(`group ${group.name} exists already (gid ${existing.gid})`)
      continue
    }
    await ctx.run(['groupadd', ...(group.gid === undefined ? [] : ['--gid', String(group.gid)]), ...(group.system ? ['--system'] : []), group.name])
  }
}

export async function makeUsers(step: UsersStep, ctx: StepContext): Promise<void> {
  for (const user of step.users) {
    await checkGroups(user, ctx)
    const existing = (await readUsers(ctx.root)).get(user.name)
    if (existing) await updateUser(user, existing, ctx)
    else await addUser(user, ctx)
    if (user.password !== undefined) await ctx.run(['chpasswd', '--encrypted'], { input: `${user.name}:${user.password}\n` })
    const account = (await readUsers(ctx.root)).get(user.name)
    if (!account) throw new PibakeError(`user ${user.name} is not in the image's /etc/passwd after useradd`)
    if (user.sshKeys.length) await writeAuthorizedKeys(ctx.root, account, user.sshKeys)
  }
}

async function checkGroups(user: User, ctx: StepContext): Promise<void> {
  const groups = await readGroups(ctx.root)
  const missing = user.groups.filter((name) => !groups.has(name))
  if (missing.length) {
    throw new PibakeError(`user ${user.name}: no group ${missing.map((g) => `"${g}"`).join(', ')} in the image`, 'make it with a groups step before this one, or remove it from groups')
  }
}

async function addUser(user: User, ctx: StepContext): Promise<void> {
  const argv = ['useradd', '--create-home', '--home-dir', user.home, '--shell', user.shell]
  if (user.uid !== undefined) argv.push('--uid', String(user.uid))
  if (user.gid !== undefined) {
    const hasGroup = [...(await readGroups(ctx.root)).values()].some((g) => g.gid === user.gid)
    if (!hasGroup) await ctx.run(['groupadd', '--gid', String(user.gid), user.name])
    argv.push('--gid', String(user.gid))
  }
  if (user.comment !== undefined) argv.push('--comment', user.comment)
  if (user.groups.length) argv.push('--groups', user.groups.join(','))
  await ctx.run([...argv, user.name])
}

/** An existing user (the image's `pi`, say) gets what the recipe gives; its uid must already match. */
async function updateUser(user: User, existing: Account, ctx: StepContext): Promise<void> {
  if (user.uid !== undefined && user.uid !== existing.uid) {
    throw new PibakeError(`user ${user.name} exists in the image with uid ${existing.uid}, the recipe says ${user.uid}`, 'leave uid out, or use another user name')
  }
  const argv = ['usermod', '--shell', user.shell]
  if (user.gid !== undefined && user.gid !== existing.gid) argv.push('--gid', String(user.gid))
  if (user.comment !== undefined) argv.push('--comment', user.comment)
  if (user.groups.length) argv.push('--append', '--groups', user.groups.join(','))
  await ctx.run([...argv, user.name])
  ctx.info(`user ${user.name} existed (uid ${existing.uid}): updated, home ${existing.home} kept`)
}

/** `~/.ssh/authorized_keys`, 0600 in a 0700 `.ssh`, both owned by the user. */
async function writeAuthorizedKeys(root: string, account: Account, keys: readonly string[]): Promise<void> {
  const home = await resolveInRoot(root, account.home, { followLast: true })
  if (!(await lstat(home).catch(() => undefined))?.isDirectory()) {
    throw new PibakeError(`user ${account.name}'s home ${account.home} is not a folder in the image: there is nowhere to put the SSH keys`)
  }
  const ssh = await resolveInRoot(root, join(account.home, '.ssh'), { followLast: true })
  await mkdir(ssh, { recursive: true })
  await chown(ssh, account.uid, account.gid)
  await chmod(ssh, 0o700)
  const file = join(ssh, 'authorized_keys')
  if ((await lstat(file).catch(() => undefined))?.isSymbolicLink()) throw new PibakeError(`${account.home}/.ssh/authorized_keys is a symlink in the image: pibake won't write through it`)
  await writeFile(file, `${keys.join('\n')}\n`, { mode: 0o600 })
  await chown(file, account.uid, account.gid)
  await chmod(file, 0o600)
}
