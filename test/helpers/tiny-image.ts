/**
 * A tiny disk image laid out like Raspberry Pi OS (MBR, FAT32 boot, ext4 root with a PARTUUID
 * fstab) with the awkward entries real images have, built in about a second without mounting.
 * The programs are not real (only their ELF headers are): for tests of everything but emulation.
 */
import { chmod, link, mkdir, open, symlink, writeFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { exec } from '../../src/system/exec.ts'

export const LABEL_ID = '0x7e57ab1e'
export const PARTUUID_BOOT = '7e57ab1e-01'
export const PARTUUID_ROOT = '7e57ab1e-02'
const SECTOR = 512
const BOOT_START = 8192
const BOOT_SECTORS = 40 * 2048 // 40 MiB: FAT32 with one sector per cluster
const ROOT_SECTORS = 32 * 2048

export interface TinyImage {
  readonly img: string
  readonly sha256: string
  /** Byte offset of the root partition. */
  readonly rootOffset: number
}

/** GPT partition ids of the `gpt` and `hybrid` layouts, as their fstab names them. */
export const GPT_PARTUUIDS = { boot: '7e57ab1e-0000-4000-8000-000000000001', root: '7e57ab1e-0000-4000-8000-000000000002' } as const
const GPT_TYPES = { fat: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4' } as const
const DATA_SECTORS = 8 * 2048

export interface TinyImageOptions {
  readonly arch?: 'arm64' | 'armhf'
  readonly bootMount?: '/boot/firmware' | '/boot'
  /**
   * `dos` (default, as Raspberry Pi OS), `gpt`, or `hybrid` (GPT, and an MBR that lists the boot and
   * root partitions too, as some rpi-image-gen images have).
   */
  readonly table?: 'dos' | 'gpt' | 'hybrid'
  /** A third partition after the root: an ext4 data partition, mounted at /data by the fstab. */
  readonly dataPartition?: boolean
  /** The root partition holds a btrfs superblock instead of ext4 (only the magic: enough to be told apart). */
  readonly btrfsRoot?: boolean
}

export async function makeTinyImage(dir: string, options: TinyImageOptions = {}): Promise<TinyImage> {
  const bootMount = options.bootMount ?? '/boot/firmware'
  const table = options.table ?? 'dos'
  const ids = table === 'dos' ? { boot: PARTUUID_BOOT, root: PARTUUID_ROOT } : GPT_PARTUUIDS
  const root = join(dir, 'root')
  const boot = join(dir, 'boot')
  await writeRoot(root, options.arch ?? 'arm64', bootMount, ids, options.dataPartition ?? false)
  await writeBoot(boot, ids.root)
  const img = join(dir, 'tiny.img')
  const rootStart = BOOT_START + BOOT_SECTORS
  const dataStart = rootStart + ROOT_SECTORS
  // GPT keeps a backup table in the last 33 sectors.
  const end = dataStart + (options.dataPartition ? DATA_SECTORS : 0) + (table === 'dos' ? 0 : 2048)
  await exec(['truncate', '-s', String(end * SECTOR), img])
  const data = options.dataPartition ? `${dataStart},${DATA_SECTORS},${table === 'dos' ? '83' : GPT_TYPES.linux}\n` : ''
  const layout =
    table === 'dos'
      ? `label: dos\nlabel-id: ${LABEL_ID}\n${BOOT_START},${BOOT_SECTORS},c\n${rootStart},${ROOT_SECTORS},83\n${data}`
      : `label: gpt\nstart=${BOOT_START}, size=${BOOT_SECTORS}, type=${GPT_TYPES.fat}, uuid=${ids.boot}\nstart=${rootStart}, size=${ROOT_SECTORS}, type=${GPT_TYPES.linux}, uuid=${ids.root}\n${data}`
  await exec(['sfdisk', '--quiet', img], { input: layout })
  if (table === 'hybrid') await hybridMbr(img, [[BOOT_START, BOOT_SECTORS, 0x0c], [rootStart, ROOT_SECTORS, 0x83]])
  await exec(['mkfs.vfat', '-F', '32', '-s', '1', '-n', 'bootfs', '--offset', String(BOOT_START), img, String(BOOT_SECTORS / 2)])
  await exec(['mcopy', '-s', '-p', '-m', '-i', `${img}@@${BOOT_START * SECTOR}`, ...(await listTop(boot)), '::/'])
  if (options.btrfsRoot) await writeAt(img, rootStart * SECTOR + 0x10040, Buffer.from('_BHRfS_M', 'latin1'))
  else await exec(['mkfs.ext4', '-q', '-F', '-L', 'rootfs', '-E', `offset=${rootStart * SECTOR}`, '-d', root, img, `${ROOT_SECTORS / 2}k`])
  if (options.dataPartition) await exec(['mkfs.ext4', '-q', '-F', '-L', 'data', '-E', `offset=${dataStart * SECTOR}`, img, `${DATA_SECTORS / 2}k`])
  const sha256 = createHash('sha256').update(await readFile(img)).digest('hex')
  return { img, sha256, rootOffset: rootStart * SECTOR }
}

/**
 * Makes the protective MBR of a GPT image a hybrid one: entry 1 stays the 0xEE entry over the GPT
 * header, entries 2… list the given partitions (start sector, sectors, type) as an MBR would.
 */
async function hybridMbr(img: string, partitions: readonly (readonly [number, number, number])[]): Promise<void> {
  const entries = Buffer.alloc(16 * partitions.length)
  for (const [index, [start, sectors, type]] of partitions.entries()) {
    const entry = entries.subarray(index * 16, index * 16 + 16)
    entry[0] = 0x00
    entry.fill(0xfe, 1, 4) // CHS: beyond 8 GiB, as tools write it
    entry[4] = type
    entry.fill(0xfe, 5, 8)
    entry.writeUInt32LE(start, 8)
    entry.writeUInt32LE(sectors, 12)
  }
  // The protective entry then covers the GPT header only (sectors 1 to 33).
  const protective = Buffer.alloc(16)
  protective[4] = 0xee
  protective.writeUInt32LE(1, 8)
  protective.writeUInt32LE(33, 12)
  await writeAt(img, 446, Buffer.concat([protective, entries]))
}

async function writeAt(file: string, position: number, bytes: Buffer): Promise<void> {
  const handle = await open(file, 'r+')
  try {
    await handle.write(bytes, 0, bytes.length, position)
  } finally {
    await handle.close()
  }
}

async function listTop(dir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises')
  return (await readdir(dir)).map((name) => join(dir, name))
}

async function put(root: string, path: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const file = join(root, path)
  await mkdir(join(file, '..'), { recursive: true })
  await writeFile(file, content)
  await chmod(file, mode)
}

/** Enough of an ELF header for pibake to read the architecture from. */
function fakeElf(arch: 'arm64' | 'armhf'): Buffer {
  const header = Buffer.alloc(64)
  header.write('\x7fELF', 0, 'latin1')
  header[4] = arch === 'arm64' ? 2 : 1
  header[5] = 1
  header.writeUInt16LE(arch === 'arm64' ? 0xb7 : 0x28, 18)
  return header
}

async function writeRoot(root: string, arch: 'arm64' | 'armhf', bootMount: string, ids: { boot: string; root: string }, data: boolean): Promise<void> {
  await put(root, 'usr/bin/dpkg', fakeElf(arch), 0o755)
  await put(root, 'usr/bin/su', fakeElf(arch), 0o4755)
  await put(root, 'usr/bin/ping', fakeElf(arch), 0o755)
  await exec(['setfattr', '-n', 'security.capability', '-v', '0x0100000200200000000000000000000000000000', join(root, 'usr/bin/ping')])
  await symlink('usr/bin', join(root, 'bin'))
  const dataLine = data ? 'LABEL=data  /data  ext4  defaults,noatime  0  2\n' : ''
  const fstab = `proc  /proc  proc  defaults  0  0\nPARTUUID=${ids.boot}  ${bootMount}  vfat  defaults  0  2\nPARTUUID=${ids.root}  /  ext4  defaults,noatime  0  1\n${dataLine}`
  await put(root, 'etc/fstab', fstab)
  await put(root, 'etc/hostname', 'raspberrypi\n')
  await put(root, 'etc/machine-id', '0123456789abcdef0123456789abcdef\n', 0o444)
  await put(root, 'etc/shadow', 'root:*:20000:0:99999:7:::\n', 0o640)
  await put(root, 'usr/share/demo/hardlink-a', 'same inode\n')
  await link(join(root, 'usr/share/demo/hardlink-a'), join(root, 'usr/share/demo/hardlink-b'))
  await mkdir(join(root, 'opt/demo'), { recursive: true })
  await symlink('/etc', join(root, 'opt/demo/etc-link'))
  await symlink('../../etc', join(root, 'opt/demo/etc-rel-link'))
  await mkdir(join(root, 'dev'), { recursive: true })
  await exec(['mknod', '-m', '666', join(root, 'dev/null'), 'c', '1', '3'])
  await put(root, 'usr/lib/systemd/system/dphys-swapfile.service', '[Unit]\nDescription=swap file\n[Install]\nWantedBy=multi-user.target\n')
  await put(root, 'usr/lib/systemd/system/regenerate_ssh_host_keys.service', '[Unit]\nDescription=first boot keys\n')
  await mkdir(join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true })
  await symlink('/usr/lib/systemd/system/dphys-swapfile.service', join(root, 'etc/systemd/system/multi-user.target.wants/dphys-swapfile.service'))
  await put(root, 'etc/dhcpcd.conf', 'hostname\nclientid\n')
  await mkdir(join(root, bootMount.slice(1)), { recursive: true })
  await mkdir(join(root, 'tmp'), { recursive: true, mode: 0o1777 })
  await chmod(join(root, 'tmp'), 0o1777)
}

async function writeBoot(boot: string, rootId: string): Promise<void> {
  await put(boot, 'cmdline.txt', `console=serial0,115200 console=tty1 root=PARTUUID=${rootId} rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n`)
  await put(boot, 'config.txt', '[all]\narm_64bit=1\nauto_initramfs=1\n')
  await put(boot, 'start4.elf', Buffer.alloc(4096, 7))
  await put(boot, 'kernel8.img', Buffer.alloc(8192, 9))
  await put(boot, 'kernel_2712.img', Buffer.alloc(8192, 9))
  await put(boot, 'initramfs8', Buffer.alloc(4096, 5))
  await put(boot, 'initramfs_2712', Buffer.alloc(4096, 5))
  await put(boot, 'fixup4.dat', Buffer.alloc(1024, 4))
  await put(boot, 'bcm2711-rpi-4-b.dtb', Buffer.alloc(1024, 3))
  await put(boot, 'bcm2712-rpi-5-b.dtb', Buffer.alloc(1024, 3))
  await put(boot, 'overlays/README', 'dtb overlays\n')
}
