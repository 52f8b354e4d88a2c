/**
 * extract: reads the partition table, copies the FAT boot partition's files out with mtools, and
 * records where the root partition is. The root is never copied: later stages see it as a
 * read-only loop mount under their overlay layers.
 */
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PreflightError } from '../errors.ts'
import type { Stage, StageContext } from '../pipeline/stage.ts'
import type { ImageInfo } from '../pipeline/workspace.ts'
import { resolveInRoot } from '../system/inroot.ts'
import { copyFatTree } from '../system/mtools.ts'
import { bootAndRoot, readPartitionTable } from '../system/partitions.ts'
import { requirePrograms } from '../system/preflight.ts'
import { imageFile } from './image.ts'
import { copyTarballBoot, isTarballImage, tarballRoot } from './image-tarball.ts'

export const extract: Stage = {
  name: 'extract',
  kind: 'output',
  version: 1,
  async verify(ctx) {
    // A tarball's root is a folder of the cache: no partition table, no loop device.
    if (isTarballImage(ctx.recipe.image.path)) return
    await requirePrograms(['sfdisk', 'mcopy', 'losetup', 'mount', 'umount'])
  },
  async inputs(ctx) {
    return { arch: ctx.recipe.image.arch ?? 'detect' }
  },
  async run(ctx) {
    if (isTarballImage(ctx.recipe.image.path)) return extractTarball(ctx)
    const file = imageFile(ctx)
    const table = await readPartitionTable(file, ctx.signal)
    const { boot, root } = bootAndRoot(table, file)
    const dir = ctx.workspace.stageDir('extract')
    await mkdir(join(dir, 'boot'), { recursive: true })
    await copyFatTree(file, boot.offset, join(dir, 'boot'), ctx.signal)
    const located = { image: file, boot: { offset: boot.offset, size: boot.size }, root: { offset: root.offset, size: root.size } }
    // A first info.json tells the workspace where the root is, so it can be mounted and looked at.
    await writeInfo(dir, { ...located, arch: 'arm64', bootMount: '/boot/firmware', partuuids: {} })
    const base = await ctx.workspace.base()
    const fstab = await readFile(await resolveInRoot(base, '/etc/fstab', { followLast: true }), 'utf8').catch(() => '')
    const info: ImageInfo = { ...located, arch: await detectArch(base, ctx), bootMount: await detectBootMount(base, fstab), partuuids: partuuids(fstab) }
    await writeInfo(dir, info)
    ctx.emit({ type: 'info', stage: 'extract', message: `${info.arch}, boot partition at ${info.bootMount}, ${table.label} partition table` })
  },
}

/** A tarball's root is its unpacked tree in the cache, used as it is; its boot files are copied as the partition's are. */
async function extractTarball(ctx: StageContext): Promise<void> {
  const dir = ctx.workspace.stageDir('extract')
  await copyTarballBoot(ctx, join(dir, 'boot'))
  const tree = tarballRoot(ctx)
  const fstab = await readFile(await resolveInRoot(tree, '/etc/fstab', { followLast: true }), 'utf8').catch(() => '')
  const none = { offset: 0, size: 0 }
  const info: ImageInfo = { image: ctx.recipe.image.path, tree, boot: none, root: none, arch: await detectArch(tree, ctx), bootMount: await detectBootMount(tree, fstab), partuuids: partuuids(fstab) }
  await writeInfo(dir, info)
  ctx.emit({ type: 'info', stage: 'extract', message: `${info.arch}, boot partition at ${info.bootMount}, root unpacked from a tarball` })
}

async function writeInfo(dir: string, info: ImageInfo): Promise<void> {
  await writeFile(join(dir, 'info.json'), `${JSON.stringify(info, null, 2)}\n`)
}

/** The architecture of the image's programs, from the ELF header of its dpkg or shell. */
async function detectArch(root: string, ctx: StageContext): Promise<'arm64' | 'armhf'> {
  for (const program of ['/usr/bin/dpkg', '/bin/sh', '/usr/bin/env']) {
    const machine = await elfMachine(await resolveInRoot(root, program, { followLast: true }))
    if (machine === undefined) continue
    const arch = archOfMachine(machine)
    if (!arch) throw new PreflightError(`the image's ${program} is not an ARM program (ELF machine ${machine})`, 'pibake builds Raspberry Pi OS images (arm64 or armhf)')
    const wanted = ctx.recipe.image.arch
    if (wanted && wanted !== arch) throw new PreflightError(`image.arch: the recipe says ${wanted}, but the image is ${arch}`, `set image.arch to "${arch}" or use the ${wanted} image`)
    return arch
  }
  throw new PreflightError('the image root has no /usr/bin/dpkg or /bin/sh to tell its architecture from', 'is this a Raspberry Pi OS image?')
}

/** The ELF header's machine field of a file (0xb7 aarch64, 0x28 arm), undefined when it is not an ELF file. */
export async function elfMachine(file: string): Promise<number | undefined> {
  const info = await stat(file).catch(() => undefined)
  if (!info?.isFile()) return undefined
  const handle = await open(file, 'r')
  try {
    const header = Buffer.alloc(20)
    await handle.read(header, 0, 20, 0)
    return elfHeaderMachine(header)
  } finally {
    await handle.close()
  }
}

/** The machine field of an ELF header's first 20 bytes, undefined when they are not one. */
export function elfHeaderMachine(header: Buffer): number | undefined {
  return header.length >= 20 && header.toString('latin1', 1, 4) === 'ELF' ? header.readUInt16LE(18) : undefined
}

/** pibake's name of an ELF machine: arm64 for aarch64, armhf for 32-bit arm. */
export function archOfMachine(machine: number | undefined): 'arm64' | 'armhf' | undefined {
  return machine === 0xb7 ? 'arm64' : machine === 0x28 ? 'armhf' : undefined
}

/** Bookworm mounts the boot partition on /boot/firmware; older releases on /boot. */
async function detectBootMount(root: string, fstab: string): Promise<'/boot/firmware' | '/boot'> {
  const mountpoints = fstabEntries(fstab).map((entry) => entry.mountpoint)
  if (mountpoints.includes('/boot/firmware')) return '/boot/firmware'
  if (mountpoints.includes('/boot')) return '/boot'
  const firmware = await stat(await resolveInRoot(root, '/boot/firmware', { followLast: true })).catch(() => undefined)
  return firmware?.isDirectory() ? '/boot/firmware' : '/boot'
}

function partuuids(fstab: string): ImageInfo['partuuids'] {
  const result: { boot?: string; root?: string } = {}
  for (const entry of fstabEntries(fstab)) {
    const uuid = /^PARTUUID=(.+)$/.exec(entry.device)?.[1]
    if (!uuid) continue
    if (entry.mountpoint === '/') result.root = uuid
    if (entry.mountpoint === '/boot' || entry.mountpoint === '/boot/firmware') result.boot = uuid
  }
  return result
}

export function fstabEntries(fstab: string): { device: string; mountpoint: string; type: string; line: string }[] {
  return fstab
    .split('\n')
    .filter((line) => line.trim() && !line.trim().startsWith('#'))
    .map((line) => {
      const [device = '', mountpoint = '', type = ''] = line.trim().split(/\s+/)
      return { device, mountpoint, type, line }
    })
}
