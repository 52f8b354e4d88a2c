/** Reading a disk image's partition table (MBR or GPT) and telling what each partition holds. */
import { open, stat } from 'node:fs/promises'
import { exec } from './exec.ts'
import { PibakeError } from '../errors.ts'

/** What a partition holds, by its superblock: only FAT and ext2/3/4 can be baked, the others are named in errors. */
export type Filesystem = 'fat' | 'ext4' | 'btrfs' | 'xfs' | 'f2fs' | 'squashfs' | 'exfat' | 'ntfs' | 'unknown'

export interface Partition {
  readonly number: number
  /** Byte offset of the partition in the image. */
  readonly offset: number
  /** Size in bytes. */
  readonly size: number
  /** Partition type as the table gives it (`c`, `83`, or a GPT type GUID). */
  readonly type: string
  readonly filesystem: Filesystem
}

export interface PartitionTable {
  readonly label: 'dos' | 'gpt'
  readonly id: string
  readonly partitions: readonly Partition[]
}

interface SfdiskJson {
  partitiontable: {
    label: string
    id?: string
    sectorsize?: number
    partitions?: { node: string; start: number; size: number; type: string }[]
  }
}

export async function readPartitionTable(image: string, signal?: AbortSignal): Promise<PartitionTable> {
  const { stdout } = await exec(['sfdisk', '--json', image], {
    signal,
    hint: 'the image has no readable partition table: is it a whole-disk image (not a single partition, not still compressed)?',
  })
  const table = (JSON.parse(stdout) as SfdiskJson).partitiontable
  if (table.label !== 'dos' && table.label !== 'gpt') {
    throw new PibakeError(`${image}: unsupported partition table "${table.label}"`, 'pibake reads MBR (dos) and GPT images')
  }
  const sector = table.sectorsize ?? 512
  const imageSize = (await stat(image)).size
  const partitions: Partition[] = []
  for (const [index, p] of (table.partitions ?? []).entries()) {
    const offset = p.start * sector
    const size = p.size * sector
    if (offset + size > imageSize) {
      throw new PibakeError(
        `${image} is cut short: partition ${index + 1} ends at byte ${offset + size}, but the file has ${imageSize} bytes`,
        'the download or copy was interrupted: download the image again and check its sha256',
      )
    }
    partitions.push({ number: index + 1, offset, size, type: p.type, filesystem: await probeFilesystem(image, offset) })
  }
  return { label: table.label, id: table.id ?? '', partitions }
}

/** Recognises FAT and ext2/3/4, and the filesystems pibake cannot bake, by their superblock magic. */
export async function probeFilesystem(image: string, offset: number): Promise<Filesystem> {
  const handle = await open(image, 'r')
  try {
    // btrfs keeps its superblock at 64 KiB; the others within the first 2 KiB.
    const buffer = Buffer.alloc(0x10048)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset)
    if (bytesRead < 2048) return 'unknown'
    if (buffer.readUInt16LE(1024 + 56) === 0xef53) return 'ext4'
    const bootSignature = buffer.readUInt16LE(510) === 0xaa55
    const fatName = buffer.toString('latin1', 82, 87) === 'FAT32' || buffer.toString('latin1', 54, 57) === 'FAT'
    if (bootSignature && fatName) return 'fat'
    if (bytesRead >= 0x10048 && buffer.toString('latin1', 0x10040, 0x10048) === '_BHRfS_M') return 'btrfs'
    if (buffer.toString('latin1', 0, 4) === 'XFSB') return 'xfs'
    if (buffer.readUInt32LE(1024) === 0xf2f52010) return 'f2fs'
    if (buffer.toString('latin1', 0, 4) === 'hsqs') return 'squashfs'
    if (buffer.toString('latin1', 3, 11) === 'EXFAT   ') return 'exfat'
    if (buffer.toString('latin1', 3, 11) === 'NTFS    ') return 'ntfs'
    return 'unknown'
  } finally {
    await handle.close()
  }
}

/** The boot (FAT) and root (ext4) partitions of a Raspberry Pi OS style image. */
export function bootAndRoot(table: PartitionTable, image: string): { boot: Partition; root: Partition } {
  const boot = table.partitions.find((p) => p.filesystem === 'fat')
  const root = table.partitions.find((p) => p.filesystem === 'ext4')
  const other = table.partitions.find((p) => p.filesystem !== 'fat' && p.filesystem !== 'ext4' && p.filesystem !== 'unknown')
  if (boot && !root && other) {
    throw new PibakeError(
      `${image}: the root partition (${other.number}) holds ${other.filesystem}; pibake bakes ext4 roots only`,
      'Raspberry Pi OS images have an ext4 root: use one, or convert the root to ext4 first (copy its files onto a new ext4 partition)',
    )
  }
  if (!boot || !root) {
    const found = table.partitions.map((p) => `${p.number}: ${p.filesystem} (type ${p.type})`).join(', ') || 'no partitions'
    throw new PibakeError(
      `${image}: expected a FAT boot partition and an ext4 root partition, found ${found}`,
      'use a Raspberry Pi OS image (or one laid out like it); a truncated download also looks like this: check its sha256',
    )
  }
  return { boot, root }
}
