/**
 * What a root mode adds to the image: the initramfs-tools hook and boot script (script.ts), and each
 * kernel's initramfs rebuilt with them in the image, by the image's own mkinitramfs under emulation.
 * A rebuild takes a minute or more there, so each is kept in `<out>/cache/initramfs/`, keyed by what
 * it is made from (the layers below, the kernel version, the two scripts): a change of the nodes or
 * of another netboot setting reuses it. The new initramfs replaces `/boot/initrd.img-<version>` and
 * every boot file that was a copy of the old one (`initramfs8`, `initramfs_2712`…), which is what
 * the firmware fetches.
 */
import { createHash } from 'node:crypto'
import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { StageError } from '../errors.ts'
import type { LayerContext } from '../pipeline/stage.ts'
import { checkEmulation } from '../system/chroot.ts'
import { inRoot } from '../system/chroot.ts'
import { resolveInRoot } from '../system/inroot.ts'
import { exists, putFile } from '../system/rootfiles.ts'
import { BOOT_SCRIPT, BOOT_SCRIPT_PATH, HOOK_PATH, HOOK_SCRIPT } from './script.ts'
import { rootMode, type RootMode } from './modes.ts'

/** What the cached initramfs of one kernel is made from, beside the layers below (`parent`). */
export const INITRAMFS_INPUTS = { hook: HOOK_SCRIPT, script: BOOT_SCRIPT, format: 1 } as const

export async function addRootScripts(ctx: LayerContext): Promise<void> {
  if (!(await exists(ctx.root, '/usr/share/initramfs-tools/hook-functions'))) {
    throw new StageError('netboot', `netboot.root '${ctx.recipe.netboot.root}' needs initramfs-tools in the image, which has none`, 'install it in a customize step (apt: initramfs-tools), or use the default NFS root')
  }
  if (!(await exists(ctx.root, '/bin/busybox'))) {
    throw new StageError('netboot', `netboot.root '${ctx.recipe.netboot.root}' needs busybox in the image (the initramfs mounts the root with it)`, "add a customize step: { apt: ['busybox'] }")
  }
  await putFile(ctx.root, HOOK_PATH, HOOK_SCRIPT, 0o755)
  await putFile(ctx.root, BOOT_SCRIPT_PATH, BOOT_SCRIPT, 0o755)
  let served = 0
  for (const version of await kernelVersions(ctx)) served += await rebuildInitramfs(ctx, version)
  if (!served) throw new StageError('netboot', `no boot file is a copy of an initramfs in the image's /boot: the firmware would fetch one without the ${ctx.recipe.netboot.root} root's boot script`, 'the boot partition must hold the kernel\'s initramfs (initramfs8, initramfs_2712…) as Raspberry Pi OS installs it')
}

/** The image's kernels that have an initramfs: `/boot/initrd.img-<version>` with `/lib/modules/<version>`. */
async function kernelVersions(ctx: LayerContext): Promise<string[]> {
  const modules = await readdir(await resolveInRoot(ctx.root, '/lib/modules', { followLast: true })).catch(() => [] as string[])
  const versions: string[] = []
  for (const version of modules.sort()) if (await exists(ctx.root, `/boot/initrd.img-${version}`)) versions.push(version)
  if (!versions.length) throw new StageError('netboot', `netboot.root '${ctx.recipe.netboot.root}' needs the image's initramfs rebuilt, but no kernel in /lib/modules has one in /boot (initrd.img-<version>)`, 'use an image whose kernel boots with an initramfs (Raspberry Pi OS and Debian do)')
  return versions
}

/** Rebuilds one kernel's initramfs (or takes it from the cache); returns how many boot files it replaced. */
async function rebuildInitramfs(ctx: LayerContext, version: string): Promise<number> {
  const installed = await resolveInRoot(ctx.root, `/boot/initrd.img-${version}`, { followLast: true })
  const copies = await bootCopies(ctx.boot, await readFile(installed))
  const key = createHash('sha256').update(JSON.stringify({ parent: ctx.parent, version, ...INITRAMFS_INPUTS })).digest('hex').slice(0, 32)
  const cached = join(ctx.workspace.cache, 'initramfs', key, `initrd.img-${version}`)
  const step = `initramfs of ${version} with the ${ctx.recipe.netboot.root} root's modules and boot script`
  if (await stat(cached).then(() => true, () => false)) {
    ctx.emit({ type: 'step', stage: 'netboot', step, cached: true })
  } else {
    ctx.emit({ type: 'step', stage: 'netboot', step })
    const { arch } = await ctx.workspace.imageInfo()
    await checkEmulation(arch)
    const made = `/boot/.initrd.img-${version}.pibake`
    await inRoot(ctx.root, ['mkinitramfs', '-o', made, version], {
      env: { TMPDIR: '/run' },
      signal: ctx.signal,
      onLine: (line) => ctx.emit({ type: 'log', stage: 'netboot', line }),
      hint: 'mkinitramfs failed in the image: its output is above',
    })
    const output = await resolveInRoot(ctx.root, made)
    await mkdir(join(cached, '..'), { recursive: true })
    await copyFile(output, `${cached}.new`)
    await rename(`${cached}.new`, cached)
    await rm(output)
  }
  await copyFile(cached, installed)
  for (const name of copies) await copyFile(cached, join(ctx.boot, name))
  if (!copies.length) ctx.emit({ type: 'info', stage: 'netboot', message: `no boot file is a copy of /boot/initrd.img-${version}: the firmware does not boot that kernel` })
  return copies.length
}

/** The top-level boot files whose content is `initrd` (the firmware's names for it). */
async function bootCopies(boot: string, initrd: Buffer): Promise<string[]> {
  const names: string[] = []
  for (const entry of await readdir(boot, { withFileTypes: true })) {
    if (!entry.isFile()) continue
    const file = join(boot, entry.name)
    if ((await stat(file)).size === initrd.length && (await readFile(file)).equals(initrd)) names.push(entry.name)
  }
  return names.sort()
}

/** What the netboot stage's cache key gains from the root mode: nothing for `nfs`, whose output is as it always was. */
export function rootInputs(netboot: { readonly root?: RootMode | undefined }): Record<string, unknown> {
  const mode = rootMode(netboot)
  return mode === 'nfs' ? {} : { root: mode, initramfs: INITRAMFS_INPUTS }
}
