/** Writing files and systemd unit links inside an image's root, every path resolved inside it. */
import { lstat, mkdir, readdir, rm, symlink, writeFile, chmod, chown } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { resolveInRoot } from './inroot.ts'

/**
 * Writes `content` at `path` in the root. A regular file keeps its owner and mode; a symlink there
 * is replaced by the file (never written through).
 */
export async function putFile(root: string, path: string, content: string, mode = 0o644): Promise<void> {
  const parent = await resolveInRoot(root, dirname(path), { followLast: true })
  await mkdir(parent, { recursive: true })
  const file = join(parent, path.split('/').pop()!)
  const existing = await lstat(file).catch(() => undefined)
  if (existing && !existing.isFile()) await rm(file, { recursive: true, force: true })
  await writeFile(file, content)
  if (!existing?.isFile()) {
    await chown(file, 0, 0)
    await chmod(file, mode)
  }
}

export async function exists(root: string, path: string): Promise<boolean> {
  const file = await resolveInRoot(root, path)
  return lstat(file).then(() => true, () => false)
}

const UNIT_DIRS = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system']

/** Whether the image has a unit file of that name. */
export async function hasUnit(root: string, unit: string): Promise<boolean> {
  for (const dir of UNIT_DIRS) if (await exists(root, `${dir}/${unit}`)) return true
  return false
}

/** Masks a unit as `systemctl mask` does (a link to /dev/null), and removes the links that enable it. */
export async function maskUnit(root: string, unit: string): Promise<void> {
  const etc = await resolveInRoot(root, '/etc/systemd/system', { followLast: true })
  await mkdir(etc, { recursive: true })
  for (const entry of await readdir(etc, { withFileTypes: true })) {
    if (entry.isDirectory() && /\.(wants|requires)$/.test(entry.name)) await rm(join(etc, entry.name, unit), { force: true })
  }
  await rm(join(etc, unit), { force: true })
  await symlink('/dev/null', join(etc, unit))
}

/** Enables a unit as `systemctl enable` does for `WantedBy=<target>`. */
export async function enableUnit(root: string, unit: string, target: string): Promise<void> {
  const wants = await resolveInRoot(root, `/etc/systemd/system/${target}.wants`, { followLast: true })
  await mkdir(wants, { recursive: true })
  await rm(join(wants, unit), { force: true })
  await symlink(`/etc/systemd/system/${unit}`, join(wants, unit))
}
