/**
 * netboot: the changes that make one image a shared, read-only root for many diskless nodes.
 * The kernel command line loses its local-root arguments (publish adds each build's nfsroot), the
 * fstab loses `/` and the SD card's partitions and gains tmpfs for the paths a system writes to,
 * `/etc/machine-id` and `/etc/hostname` are emptied so every node has its own (systemd generates the
 * id at boot, the hostname comes from DHCP), `/etc/hosts` lists the fleet, the first-boot and
 * swap-file services are masked (on a read-only root also the timers that would change it), and the
 * network managers leave the root's interface alone.
 */
import { chmod, chown, copyFile, lstat, mkdir, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { StageError } from '../errors.ts'
import { netbootCmdline } from '../netboot/cmdline.ts'
import type { LayerContext, Stage, StageContext } from '../pipeline/stage.ts'
import { resolveInRoot } from '../system/inroot.ts'
import { enableUnit, exists, hasUnit, maskUnit, putFile } from '../system/rootfiles.ts'
import { identityScript, IDENTITY_SCRIPT_PATH, IDENTITY_UNIT, IDENTITY_UNIT_TEXT, sshdIdentityConf } from '../netboot/identity.ts'
import { accountsScript, accountsUnit, ACCOUNTS_DIR, ACCOUNTS_FILES, ACCOUNTS_SCRIPT_PATH, ACCOUNTS_UNIT } from '../netboot/accounts.ts'
import {
  dhcpcdConf,
  FIRST_BOOT_UNITS,
  hostsFile,
  ROOT_CHANGING_TIMERS,
  sharedFstabLine,
} from '../netboot/diskless.ts'
import { fstabEntries } from './extract.ts'
import { CLOUD_INIT_DISABLED_TEXT, disableCloudInit } from '../netboot/cloudinit.ts'
import { networkManagerConf, unmanageBootInterface } from '../netboot/networkmanager.ts'
import { FIRMWARE_PATTERNS, isFirmwareName } from '../netboot/layout.ts'
import { installPersist, persistInputs } from './netboot-persist.ts'
import { rootMode, rootNeeds } from '../roots/modes.ts'
import { addRootScripts, rootInputs } from '../roots/initramfs.ts'
import { rootCmdline } from '../roots/cmdline.ts'
import { verifyRoot } from '../roots/verify.ts'
import { shrinkBoot, shrinkInputs, verifyShrink, verifyShrinkHost } from '../shrink/stage.ts'

/** Paths that a running system writes to, each a tmpfs on a node: the shared root is read-only. */
export const TMPFS_PATHS: readonly { path: string; mode: string }[] = [
  { path: '/tmp', mode: '1777' },
  { path: '/var/tmp', mode: '1777' },
  { path: '/var/log', mode: '0755' },
  { path: '/var/spool', mode: '0755' },
  { path: '/var/lib/dhcpcd', mode: '0750' },
  { path: '/var/lib/dhcp', mode: '0755' },
  { path: '/var/lib/systemd', mode: '0755' },
  { path: '/var/lib/sudo', mode: '0700' },
  // logrotate keeps its state here; it rotates the logs of /var/log's tmpfs, which bounds their RAM.
  { path: '/var/lib/logrotate', mode: '0755' },
]

export const netboot: Stage = {
  name: 'netboot',
  kind: 'layer',
  version: 7,
  async verify(ctx) {
    await verifyRoot(ctx)
    await verifyShrinkHost(ctx.recipe)
  },
  async inputs(ctx) {
    const nodes = ctx.recipe.nodes.map(({ hostname, ip }) => ({ hostname, ip }))
    const { shared, nfs } = ctx.recipe.netboot
    return { tmpfs: TMPFS_PATHS, nodes, masked: maskedUnits(ctx), identity: [identityScript(ctx.recipe.netboot.hostKeys), IDENTITY_UNIT_TEXT, sshdIdentityConf(ctx.recipe.netboot.hostKeys)], network: [networkManagerConf(ctx.recipe.nodes), CLOUD_INIT_DISABLED_TEXT], shared: shared ?? null, firmware: FIRMWARE_PATTERNS, nodeConfig: ctx.recipe.nodes.map((node) => node.config), accounts: shared?.accounts ? [accountsScript(shared.mount), accountsUnit(shared.mount), ACCOUNTS_DIR] : null, nfsServer: nfs.server, ...persistInputs(ctx.recipe.netboot), ...rootInputs(ctx.recipe.netboot), ...shrinkInputs(ctx.recipe.netboot) }
  },
  async run(ctx) {
    await verifyShrink(ctx)
    await rewriteCmdline(ctx)
    await rewriteFstab(ctx)
    await makeMountPoints(ctx)
    await putFile(ctx.root, '/etc/machine-id', '', 0o444)
    await putFile(ctx.root, '/etc/hostname', '')
    await putFile(ctx.root, '/etc/hosts', hostsFile(ctx.recipe.nodes))
    for (const unit of maskedUnits(ctx)) if (await hasUnit(ctx.root, unit)) await maskUnit(ctx.root, unit)
    await keepNetworkUp(ctx)
    await installIdentity(ctx)
    await installShared(ctx)
    await installPersist(ctx)
    if (rootNeeds(ctx.recipe.netboot).initramfs) await addRootScripts(ctx)
    await keepFirmwareOnly(ctx)
    await shrinkBoot(ctx)
  },
}

/** The first-boot units always; on a read-only root also the timers that would change it (and fail). */
function maskedUnits(ctx: StageContext): readonly string[] {
  return rootNeeds(ctx.recipe.netboot).tmpfsFolders ? [...FIRST_BOOT_UNITS, ...ROOT_CHANGING_TIMERS] : FIRST_BOOT_UNITS
}

/**
 * The boot files are what every node's TFTP folder serves, to any host that asks: only what a
 * model's firmware fetches stays (`isFirmwareName`), and what is left out is said.
 */
async function keepFirmwareOnly(ctx: LayerContext): Promise<void> {
  const config = await bootConfig(ctx)
  const dropped = (await readdir(ctx.boot)).filter((name) => !isFirmwareName(name, config)).sort()
  for (const name of dropped) await rm(join(ctx.boot, name), { recursive: true, force: true })
  if (dropped.length) ctx.emit({ type: 'info', stage: 'netboot', message: `boot files no firmware fetches, left out of the TFTP tree: ${dropped.join(', ')}` })
}

/** config.txt, the files it includes (`include extra.txt`, to any depth), and every node's own lines. */
async function bootConfig(ctx: LayerContext): Promise<string> {
  const texts = ctx.recipe.nodes.flatMap((node) => node.config)
  const seen = new Set<string>()
  for (let queue = ['config.txt']; queue.length; ) {
    const name = queue.shift()!
    if (seen.has(name) || name.includes('/') || name.startsWith('.')) continue
    seen.add(name)
    const text = await readFile(join(ctx.boot, name), 'utf8').catch(() => undefined)
    if (text === undefined) continue
    texts.push(text)
    queue = [...queue, ...text.split('\n').flatMap((line) => /^\s*include\s+(\S+)/.exec(line)?.[1] ?? [])]
  }
  return texts.join('\n')
}

/** The node fetches its own SSH host keys at boot; the image's keys, shared by all, are removed. */
async function installIdentity(ctx: LayerContext): Promise<void> {
  await putFile(ctx.root, IDENTITY_SCRIPT_PATH, identityScript(ctx.recipe.netboot.hostKeys), 0o755)
  await putFile(ctx.root, `/etc/systemd/system/${IDENTITY_UNIT}`, IDENTITY_UNIT_TEXT)
  await enableUnit(ctx.root, IDENTITY_UNIT, 'multi-user.target')
  if (!(await exists(ctx.root, '/etc/ssh'))) return
  await putFile(ctx.root, '/etc/ssh/sshd_config.d/pibake-identity.conf', sshdIdentityConf(ctx.recipe.netboot.hostKeys))
  const ssh = await resolveInRoot(ctx.root, '/etc/ssh', { followLast: true })
  for (const name of await readdir(ssh)) if (/^ssh_host_.*_key(\.pub)?$/.test(name)) await rm(join(ssh, name))
}

async function keepNetworkUp(ctx: LayerContext): Promise<void> {
  const dhcpcd = await resolveInRoot(ctx.root, '/etc/dhcpcd.conf', { followLast: true })
  const text = await readFile(dhcpcd, 'utf8').catch(() => undefined)
  if (text !== undefined) await writeFile(dhcpcd, dhcpcdConf(text))
  await unmanageBootInterface(ctx.root, ctx.recipe.nodes)
  await disableCloudInit(ctx.root, ctx.boot)
}

async function rewriteCmdline(ctx: LayerContext): Promise<void> {
  const file = join(ctx.boot, 'cmdline.txt')
  const text = await readFile(file, 'utf8').catch(() => {
    throw new StageError('netboot', 'the boot partition has no cmdline.txt', 'is this a Raspberry Pi OS image?')
  })
  await writeFile(file, `${[...netbootCmdline(text), ...rootCmdline(rootMode(ctx.recipe.netboot))].join(' ')}\n`)
}

async function rewriteFstab(ctx: LayerContext): Promise<void> {
  const file = await resolveInRoot(ctx.root, '/etc/fstab', { followLast: true })
  const text = await readFile(file, 'utf8').catch(() => '')
  const { shared, nfs } = ctx.recipe.netboot
  await writeFile(file, netbootFstab(text, shared ? [sharedFstabLine(nfs.server, shared)] : [], rootNeeds(ctx.recipe.netboot).tmpfsFolders))
}

/**
 * Every tmpfs in the fstab needs its mount point in the image: on a read-only root nothing can
 * create a missing one at boot, and one failed mount stops the boot in emergency mode.
 */
async function makeMountPoints(ctx: LayerContext): Promise<void> {
  if (!rootNeeds(ctx.recipe.netboot).tmpfsFolders) return
  for (const { path } of TMPFS_PATHS) await mkdir(await resolveInRoot(ctx.root, path, { followLast: true }), { recursive: true })
}

/** The shared folder's mount point, and the accounts served from it when the recipe asks. */
async function installShared(ctx: LayerContext): Promise<void> {
  const shared = ctx.recipe.netboot.shared
  if (!shared) return
  await mkdir(await resolveInRoot(ctx.root, shared.mount, { followLast: true }), { recursive: true })
  if (!shared.accounts) return
  await moveAccounts(ctx.root)
  await putFile(ctx.root, ACCOUNTS_SCRIPT_PATH, accountsScript(shared.mount), 0o755)
  await putFile(ctx.root, `/etc/systemd/system/${ACCOUNTS_UNIT}`, accountsUnit(shared.mount))
  await enableUnit(ctx.root, ACCOUNTS_UNIT, 'multi-user.target')
}

/**
 * `/etc/passwd`, `group`, `shadow` and `gshadow` move to ACCOUNTS_DIR (owner, mode and times kept)
 * and become relative symlinks to it, over which the node binds the shared folder's `etc/` at boot.
 */
async function moveAccounts(root: string): Promise<void> {
  const dir = await resolveInRoot(root, ACCOUNTS_DIR, { followLast: true })
  await mkdir(dir, { recursive: true, mode: 0o755 })
  for (const name of ACCOUNTS_FILES) {
    const file = await resolveInRoot(root, `/etc/${name}`)
    const info = await lstat(file).catch(() => undefined)
    if (!info?.isFile()) continue
    const copy = join(dir, name)
    await copyFile(file, copy)
    await chown(copy, info.uid, info.gid)
    await chmod(copy, info.mode & 0o7777)
    await utimes(copy, info.atime, info.mtime)
    await rm(file)
    await symlink(relative(dirname(file), copy), file)
  }
}

/**
 * The image's fstab without local disks and swap, plus the tmpfs mounts (and `extra` lines). A root
 * with a writable overlay (`tmpfsFolders` false) needs no tmpfs folders: every path takes writes.
 */
export function netbootFstab(text: string, extra: readonly string[] = [], tmpfsFolders = true): string {
  const tmpfsPaths = new Set(TMPFS_PATHS.map((t) => t.path))
  const local = new Set(fstabEntries(text).filter((e) => isLocalDisk(e.device, e.mountpoint, e.type) || tmpfsPaths.has(e.mountpoint)).map((e) => e.line))
  // A root this stage made before (a build exported and imported as an image) gets its lines once, not twice.
  const ours = new Set([...Object.values(FSTAB_MARKERS), ...extra])
  const kept = text.split('\n').filter((line) => line.trim() && !local.has(line) && !ours.has(line))
  if (!tmpfsFolders) return [...kept, FSTAB_MARKERS.tmpfsRoot, ...extra, ''].join('\n')
  const tmpfs = TMPFS_PATHS.map(({ path, mode }) => `tmpfs  ${path}  tmpfs  defaults,nosuid,nodev,mode=${mode}  0  0`)
  return [...kept, FSTAB_MARKERS.nfsRoot, ...tmpfs, ...extra, ''].join('\n')
}

const FSTAB_MARKERS = {
  tmpfsRoot: '# diskless node: the root is a tmpfs over the build, set up by the initramfs (pibake)',
  nfsRoot: '# diskless node: the root is read-only over NFS (pibake)',
} as const

function isLocalDisk(device: string, mountpoint: string, type: string): boolean {
  return (
    mountpoint === '/' ||
    type === 'swap' ||
    /^(PARTUUID|UUID|LABEL|PARTLABEL)=/.test(device) ||
    device.startsWith('/dev/mmcblk') ||
    device.startsWith('/dev/sd') ||
    device.startsWith('/dev/nvme') ||
    mountpoint === '/boot' ||
    mountpoint === '/boot/firmware'
  )
}
