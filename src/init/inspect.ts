/**
 * What `pibake init` reads from an image before writing a recipe for it: its sha256 (and the
 * sha256 file beside it, when there is one that agrees), its architecture, where it mounts the boot
 * partition and which release it is. Nothing is mounted: the root's files are read with debugfs.
 * An `.img.xz` is decompressed to the very cache file the first build reuses.
 */
import { readFile, realpath, stat } from 'node:fs/promises'
import { PreflightError } from '../errors.ts'
import { checksumsFile, decompressImage, decompressedImageFile, fileSha256, isXz } from '../stages/image.ts'
import { archOfMachine, elfHeaderMachine, fstabEntries } from '../stages/extract.ts'
import { readExt4File } from '../system/debugfs.ts'
import { bootAndRoot, readPartitionTable } from '../system/partitions.ts'
import type { Arch } from '../recipe/types.ts'

export interface ImageFacts {
  /** The image file, resolved. */
  readonly path: string
  readonly sha256: string
  /** `<image>.sha256` when it exists and names this sha256. */
  readonly sha256File?: string
  readonly arch: Arch
  /** Where the image's fstab mounts the boot partition. */
  readonly bootMount: '/boot/firmware' | '/boot'
  readonly label: 'dos' | 'gpt'
  /** `PRETTY_NAME` of the image's os-release, e.g. `Debian GNU/Linux 12 (bookworm)`. */
  readonly release?: string
}

export interface InspectOptions {
  /** pibake's cache folder (`<out>/cache`): checksums and decompressed images, shared with builds. */
  readonly cache: string
  readonly signal: AbortSignal
}

export async function inspectImage(file: string, options: InspectOptions): Promise<ImageFacts> {
  const path = await realpath(file).catch(() => {
    throw new PreflightError(`--image ${file}: no such file`, 'give the path of a Raspberry Pi OS image (.img or .img.xz)')
  })
  if (!(await stat(path)).isFile()) throw new PreflightError(`--image ${file}: not a file`, 'give the path of a Raspberry Pi OS image (.img or .img.xz)')
  const memoFile = checksumsFile(options.cache)
  const sha256 = await fileSha256(path, memoFile)
  let raw = path
  if (isXz(path)) {
    raw = decompressedImageFile(options.cache, sha256)
    if (!(await stat(raw).catch(() => undefined))) await decompressImage(path, raw, { memoFile, signal: options.signal })
  }
  const table = await readPartitionTable(raw, options.signal)
  const { root } = bootAndRoot(table, path)
  const read = (name: string) => readExt4File(raw, root.offset, name, options.signal)
  const [dpkg, fstab, osRelease] = [await read('/usr/bin/dpkg'), await read('/etc/fstab'), await read('/etc/os-release').then((b) => b ?? read('/usr/lib/os-release'))]
  const arch = dpkg ? archOfMachine(elfHeaderMachine(dpkg)) : undefined
  if (!arch) throw new PreflightError(`${file}: its /usr/bin/dpkg is not an ARM program`, 'pibake builds Raspberry Pi OS images, arm64 or armhf')
  const mounts = fstabEntries(fstab?.toString('utf8') ?? '').map((entry) => entry.mountpoint)
  const release = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease?.toString('utf8') ?? '')?.[1]
  const sidecar = await readFile(`${path}.sha256`, 'utf8').catch(() => undefined)
  return {
    path,
    sha256,
    ...(sidecar?.trim().split(/\s+/)[0]?.toLowerCase() === sha256 ? { sha256File: `${path}.sha256` } : {}),
    arch,
    bootMount: mounts.includes('/boot') && !mounts.includes('/boot/firmware') ? '/boot' : '/boot/firmware',
    label: table.label,
    ...(release ? { release } : {}),
  }
}
