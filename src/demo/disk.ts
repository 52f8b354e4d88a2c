/**
 * Writes the disk image without mounting anything: an MBR made by sfdisk on the file (fixed
 * label-id, so fixed PARTUUIDs), a FAT32 boot partition made by mkfs.vfat and filled by mtools,
 * an ext4 root made and filled in one go by `mkfs.ext4 -d`.
 */
import { createReadStream } from 'node:fs'
import { readdir, truncate, writeFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { exec } from '../system/exec.ts'
import { BOOT_SIZE_MIB, BOOT_START_SECTOR, DEMO_LABEL_ID } from './spec.ts'

const SECTOR = 512
const MIB = 1024 * 1024

export interface DiskLayout {
  readonly bootStart: number
  readonly bootSectors: number
  readonly rootStart: number
  readonly rootSectors: number
  readonly totalBytes: number
}

/** Room for the root: what the staging tree uses, plus a quarter, plus 256 MiB, in whole MiB. */
export function planLayout(rootUsedBytes: number): DiskLayout {
  const rootMiB = Math.ceil((rootUsedBytes * 1.25) / MIB) + 256
  const bootSectors = (BOOT_SIZE_MIB * MIB) / SECTOR
  const rootStart = BOOT_START_SECTOR + bootSectors
  const rootSectors = (rootMiB * MIB) / SECTOR
  return { bootStart: BOOT_START_SECTOR, bootSectors, rootStart, rootSectors, totalBytes: (rootStart + rootSectors) * SECTOR }
}

export function sfdiskScript(layout: DiskLayout): string {
  return [
    'label: dos',
    `label-id: 0x${DEMO_LABEL_ID}`,
    'unit: sectors',
    '',
    `start=${layout.bootStart}, size=${layout.bootSectors}, type=c`,
    `start=${layout.rootStart}, size=${layout.rootSectors}, type=83`,
    '',
  ].join('\n')
}

export interface WriteImageInput {
  readonly img: string
  readonly layout: DiskLayout
  /** Folder whose entries become the boot partition's top level. */
  readonly bootDir: string
  /** The root file system's tree (owners, modes, links, devices and xattrs are kept). */
  readonly rootDir: string
  readonly signal?: AbortSignal | undefined
  readonly onLine: (line: string) => void
}

export async function writeImage(input: WriteImageInput): Promise<void> {
  const { img, layout, signal } = input
  const onLine = (line: string) => input.onLine(line)
  await writeFile(img, '')
  await truncate(img, layout.totalBytes)
  await exec(['sfdisk', '--quiet', img], { input: sfdiskScript(layout), signal, onLine })
  await exec(
    ['mkfs.vfat', '-F', '32', '-n', 'bootfs', '-i', DEMO_LABEL_ID, '--offset', String(layout.bootStart), img, String((layout.bootSectors * SECTOR) / 1024)],
    { signal, onLine },
  )
  const entries = (await readdir(input.bootDir)).sort().map((name) => join(input.bootDir, name))
  await exec(['mcopy', '-i', `${img}@@${layout.bootStart * SECTOR}`, '-s', '-p', '-m', '-Q', ...entries, '::/'], { signal, onLine })
  await exec(
    [
      'mkfs.ext4', '-q', '-F', '-L', 'rootfs', '-E', `offset=${layout.rootStart * SECTOR},nodiscard`,
      '-d', input.rootDir, img, `${(layout.rootSectors * SECTOR) / 1024}k`,
    ],
    { signal, onLine, hint: 'mkfs.ext4 -d needs e2fsprogs 1.43 or later' },
  )
}

/** Bytes the tree takes on disk (du), to size the root file system. */
export async function treeBytes(dir: string, signal?: AbortSignal): Promise<number> {
  const { stdout } = await exec(['du', '-s', '-x', '--block-size=1', dir], { signal })
  return Number(stdout.split(/\s/)[0])
}

/** `img.xz` beside `img`, multi-threaded at a fast level (the image is mostly holes and zeros). */
export async function compressImage(img: string, signal?: AbortSignal): Promise<string> {
  await exec(['xz', '-T0', '-1', '--keep', '--force', img], { signal })
  return `${img}.xz`
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
