/**
 * A small root filesystem written inline for the snapshot tests: every kind of entry and the
 * metadata a snapshot must keep (owners, setuid, capabilities, ACLs, user xattrs, hard links).
 * Needs root (mknod, chown) and getfattr/setfattr, setcap, setfacl.
 */
import { chmod, chown, link, lutimes, mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exec } from '../../src/system/exec.ts'

/** Every path of the fixture has this modification time (2024-01-01T00:00:00Z). */
export const FIXED_MTIME = 1704067200

/** `security.capability` for `cap_net_raw+ep`, as getfattr shows it (hex). */
export const CAP_NET_RAW = '0100000200200000000000000000000000000000'

/** Owner 0:42 ACL granting uid 1234 read access, as `system.posix_acl_access` (hex). */
export const ACL_USER_1234 = '0200000001000600ffffffff02000400d204000004000400ffffffff10000400ffffffff20000400ffffffff'

export interface TempDir {
  readonly path: string
}

const made: string[] = []

/** An empty temporary directory, removed by `removeTempDirs` (each test file runs it after each test). */
export async function tempDir(name = 'snapshot'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `pibake-${name}-`))
  made.push(path)
  return { path }
}

export async function removeTempDirs(): Promise<void> {
  for (const path of made.splice(0)) await rm(path, { recursive: true, force: true })
}

type Node =
  | { kind: 'dir'; mode: number; owner?: [number, number] }
  | { kind: 'file'; content: string; mode: number; owner?: [number, number] }
  | { kind: 'symlink'; target: string }
  | { kind: 'link'; to: string }
  | { kind: 'fifo'; mode: number }
  | { kind: 'char'; mode: number; major: number; minor: number }
  | { kind: 'socket'; mode: number }

/** The fixture, parents before children. */
export const FIXTURE: Record<string, Node> = {
  '/etc': { kind: 'dir', mode: 0o755 },
  '/etc/hostname': { kind: 'file', content: 'pi\n', mode: 0o644 },
  '/etc/shadow': { kind: 'file', content: 'root:*:19000:0:99999:7:::\n', mode: 0o640, owner: [0, 42] },
  '/etc/localtime': { kind: 'symlink', target: '/usr/share/zoneinfo/UTC' },
  '/home': { kind: 'dir', mode: 0o755 },
  '/home/pi': { kind: 'dir', mode: 0o750, owner: [1000, 1000] },
  '/home/pi/notes.txt': { kind: 'file', content: 'remember the milk\n', mode: 0o600, owner: [1000, 1000] },
  '/usr': { kind: 'dir', mode: 0o755 },
  '/usr/bin': { kind: 'dir', mode: 0o755 },
  '/usr/bin/su': { kind: 'file', content: '#!/bin/sh\necho su\n', mode: 0o4755 },
  '/usr/bin/ping': { kind: 'file', content: '#!/bin/sh\necho ping\n', mode: 0o755 },
  '/usr/bin/tool': { kind: 'file', content: 'tool\n', mode: 0o755 },
  '/usr/bin/tool-alias': { kind: 'link', to: '/usr/bin/tool' },
  '/usr/lib': { kind: 'dir', mode: 0o755 },
  '/usr/lib/libx.so.1': { kind: 'file', content: 'ELF?\n', mode: 0o644 },
  '/usr/lib/libx.so': { kind: 'symlink', target: 'libx.so.1' },
  '/dev': { kind: 'dir', mode: 0o755 },
  '/dev/null': { kind: 'char', mode: 0o666, major: 1, minor: 3 },
  '/run': { kind: 'dir', mode: 0o755 },
  '/run/initctl': { kind: 'fifo', mode: 0o600 },
  '/run/control.sock': { kind: 'socket', mode: 0o660 },
  '/tmp': { kind: 'dir', mode: 0o1777 },
  '/srv': { kind: 'dir', mode: 0o2775, owner: [0, 50] },
  '/srv/data': { kind: 'file', content: 'data\n', mode: 0o644, owner: [0, 42] },
  '/srv/with space': { kind: 'file', content: '', mode: 0o644 },
  '/srv/new\nline': { kind: 'file', content: '', mode: 0o644 },
}

/** Writes the fixture into `dir` (which exists) and gives every path FIXED_MTIME. */
export async function writeFixture(dir: string): Promise<void> {
  await chmod(dir, 0o755)
  for (const [path, node] of Object.entries(FIXTURE)) await writeNode(dir + path, node, dir)
  await exec(['setcap', 'cap_net_raw+ep', join(dir, 'usr/bin/ping')])
  await exec(['setfacl', '-m', 'u:1234:r', join(dir, 'srv/data')])
  await setXattr(join(dir, 'srv/data'), 'user.comment', 'kept')
  await setXattr(join(dir, 'srv/with space'), 'user.comment', 'space')
  await setXattr(join(dir, 'srv/new\nline'), 'user.comment', 'newline')
  await setMtimes(dir)
}

async function writeNode(absolute: string, node: Node, dir: string): Promise<void> {
  if (node.kind === 'dir') await mkdir(absolute)
  if (node.kind === 'file') await writeFile(absolute, node.content)
  if (node.kind === 'symlink') return symlink(node.target, absolute)
  if (node.kind === 'link') return link(dir + node.to, absolute)
  if (node.kind === 'fifo') await exec(['mkfifo', absolute])
  if (node.kind === 'char') await exec(['mknod', absolute, 'c', String(node.major), String(node.minor)])
  if (node.kind === 'socket') await makeSocket(absolute)
  if ('owner' in node && node.owner) await chown(absolute, ...node.owner)
  await chmod(absolute, node.mode)
}

/** A socket file that outlives its server: Node unlinks the path it listened on when it closes. */
async function makeSocket(absolute: string): Promise<void> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(`${absolute}.listening`, resolve))
  await rename(`${absolute}.listening`, absolute)
  await new Promise((resolve) => server.close(resolve))
}

export async function setXattr(absolute: string, name: string, value: string): Promise<void> {
  await exec(['setfattr', '-h', '-n', name, '-v', value, absolute])
}

/** Sets FIXED_MTIME (or `mtime`) on every path under `dir`, `dir` too, without following symlinks. */
export async function setMtimes(dir: string, mtime = FIXED_MTIME): Promise<void> {
  const paths = await readdir(dir, { recursive: true })
  for (const path of [...paths, '.']) await lutimes(join(dir, path), mtime, mtime)
}

