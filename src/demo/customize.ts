/**
 * Makes the debootstrapped root look like Raspberry Pi OS: PARTUUID fstab, hostname, the `pi` user,
 * first-boot units, and per release a swap file (bookworm) or trixie's pieces (trixie.ts); and adds
 * the awkward entries real images have (hard links, absolute symlinks, device nodes, a fifo, file
 * capabilities, setuid files) so that later stages are tested against them.
 */
import { chmod, link, lstat, readFile, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import { exec } from '../system/exec.ts'
import * as text from './content.ts'
import { DEMO_HOSTNAME, DEMO_USER } from './spec.ts'
import { existsInRoot, inRoot, makeRootDir, writeRootFile, writeRootSymlink } from './rootfiles.ts'
import type { DemoRelease } from './release.ts'
import { makeTrixieLike } from './trixie.ts'

export interface CustomizeContext {
  readonly staging: string
  readonly release: DemoRelease
  readonly mirror: string
  readonly signal?: AbortSignal | undefined
  readonly onLine: (line: string) => void
}

export async function makeRaspiosLike(ctx: CustomizeContext): Promise<void> {
  const root = ctx.staging
  await writeRootFile(root, '/etc/fstab', text.fstab())
  await makeRootDir(root, '/boot/firmware')
  await writeRootFile(root, '/etc/hostname', `${DEMO_HOSTNAME}\n`)
  await writeRootFile(root, '/etc/hosts', text.hosts())
  // debootstrap copies the build host's resolv.conf; the image must not carry it.
  await writeRootFile(root, '/etc/resolv.conf', '')
  if (ctx.release === 'bookworm') await writeRootFile(root, '/etc/dphys-swapfile', text.DPHYS_SWAPFILE)
  else await makeTrixieLike(root, ctx.mirror)
  await addUser(ctx)
  await writeRootFile(root, '/etc/sudoers.d/010_pi-nopasswd', text.SUDOERS_PI, 0o440)
  await ensureHostKeys(ctx)
  await ensureMachineId(root)
  await addFirstBoot(root, ctx.release)
}

async function inChroot(ctx: CustomizeContext, argv: readonly string[]): Promise<void> {
  await exec(['chroot', ctx.staging, ...argv], {
    signal: ctx.signal,
    env: { LC_ALL: 'C' },
    onLine: (line) => ctx.onLine(line),
    hint: 'commands in the demo root run under qemu-user: check that binfmt_misc has qemu-aarch64 and qemu-arm',
  })
}

async function addUser(ctx: CustomizeContext): Promise<void> {
  const groupFile = await readFile(join(ctx.staging, 'etc/group'), 'utf8')
  const existing = new Set(groupFile.split('\n').map((line) => line.split(':')[0]))
  for (const group of DEMO_USER.groups.filter((g) => !existing.has(g))) {
    await inChroot(ctx, ['groupadd', '--system', group])
  }
  await inChroot(ctx, [
    'useradd', '--create-home', '--uid', String(DEMO_USER.uid), '--user-group', '--shell', '/bin/bash',
    '--groups', DEMO_USER.groups.join(','), '--password', DEMO_USER.passwordHash, DEMO_USER.name,
  ])
}

async function ensureHostKeys(ctx: CustomizeContext): Promise<void> {
  const names = await readdir(join(ctx.staging, 'etc/ssh'))
  if (names.some((n) => /^ssh_host_\w+_key$/.test(n))) return
  ctx.onLine('no SSH host keys after installing openssh-server: generating them')
  await inChroot(ctx, ['ssh-keygen', '-A'])
}

async function ensureMachineId(root: string): Promise<void> {
  const id = (await readFile(join(root, 'etc/machine-id'), 'utf8').catch(() => '')).trim()
  if (/^[0-9a-f]{32}$/.test(id)) return
  const { randomBytes } = await import('node:crypto')
  await writeRootFile(root, '/etc/machine-id', `${randomBytes(16).toString('hex')}\n`, 0o444)
}

const UNIT_DIR = '/usr/lib/systemd/system'

async function addFirstBoot(root: string, release: DemoRelease): Promise<void> {
  await writeRootFile(root, text.FIRSTBOOT_PATH, text.FIRSTBOOT, 0o755)
  await writeRootFile(root, '/usr/lib/userconf-pi/userconf-service', text.USERCONF_SERVICE_SCRIPT, 0o755)
  const units = { 'regenerate_ssh_host_keys.service': text.REGENERATE_SSH_HOST_KEYS_SERVICE, 'userconfig.service': text.USERCONFIG_SERVICE }
  for (const [name, body] of Object.entries(units)) {
    await writeRootFile(root, `${UNIT_DIR}/${name}`, body)
    // What `systemctl enable` writes: an absolute symlink to /lib/systemd/system.
    await writeRootSymlink(root, `/etc/systemd/system/multi-user.target.wants/${name}`, `/lib/systemd/system/${name}`)
  }
  if (release === 'bookworm' && !(await existsInRoot(root, '/etc/systemd/system/multi-user.target.wants/dphys-swapfile.service'))) {
    await writeRootSymlink(root, '/etc/systemd/system/multi-user.target.wants/dphys-swapfile.service', '/lib/systemd/system/dphys-swapfile.service')
  }
}

export const AWKWARD_DIR = '/usr/local/share/pibake-demo'
export const ETC_LINK = '/opt/pibake-demo/etc-link'
export const CAPABILITY_FILE = '/usr/bin/ping'

/** Entries that naive copies get wrong. Their paths are exported for the tests of later stages. */
export async function addAwkwardEntries(ctx: CustomizeContext): Promise<void> {
  const root = ctx.staging
  await writeRootFile(root, `${AWKWARD_DIR}/hardlink-a`, 'one file, two names\n')
  await link(join(root, AWKWARD_DIR, 'hardlink-a'), await inRoot(root, `${AWKWARD_DIR}/hardlink-b`))
  await writeRootSymlink(root, `${AWKWARD_DIR}/relative-link`, 'hardlink-a')
  await writeRootSymlink(root, `${AWKWARD_DIR}/absolute-link`, `${AWKWARD_DIR}/hardlink-a`)
  await writeRootSymlink(root, `${AWKWARD_DIR}/dangling-link`, '/nonexistent/pibake-demo')
  await writeRootSymlink(root, ETC_LINK, '/etc')
  const fifo = await inRoot(root, `${AWKWARD_DIR}/fifo`)
  await rm(fifo, { force: true })
  await exec(['mkfifo', '-m', '0644', fifo], { signal: ctx.signal })
  const device = await inRoot(root, `${AWKWARD_DIR}/null-device`)
  await rm(device, { force: true })
  await exec(['mknod', '-m', '0666', device, 'c', '1', '3'], { signal: ctx.signal })
  await setCapability(ctx)
  await chmod(join(root, AWKWARD_DIR), 0o755)
}

/** Raspberry Pi OS's ping carries cap_net_raw; iputils-ping's postinst sets it, this makes sure. */
async function setCapability(ctx: CustomizeContext): Promise<void> {
  const file = join(ctx.staging, CAPABILITY_FILE)
  const stat = await lstat(file).catch(() => undefined)
  if (!stat?.isFile()) {
    throw new PibakeError(`${CAPABILITY_FILE} is missing from the demo root (or not a plain file)`, 'iputils-ping should be in the package list (src/demo/spec.ts)')
  }
  await exec(['setcap', 'cap_net_raw+ep', file], { signal: ctx.signal, hint: 'setcap comes with libcap2-bin' })
}
