/**
 * The squashfs image of a build, for the `squashfs` and `ram` roots: made from the tree publish
 * ships (the final view), compressed with the best method every kernel of the image can read (its
 * /boot/config-*), and kept in `<out>/cache/roots/` under the publish key, which names the content:
 * a publish of the same content sends the image it made before, and only the newest of a recipe is
 * kept. Its creation time is the build's SOURCE_DATE_EPOCH and the files keep the tree's times, so
 * the same tree in the same order gives the same bytes. The files a boot reads come first when the
 * recipe has a read set (order.ts): an image in another order is another image, made again. Beside
 * it, its size, which `pibake plan` shows and the `ram` check reads.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import { resolveInRoot } from '../system/inroot.ts'
import { mksquashfs, type SquashfsCompressor } from '../system/mksquashfs.ts'
import type { ImageOrder } from './order.ts'

/** Best first: zstd reads fastest on a Pi, xz is smallest, gzip is what every squashfs kernel has. */
const COMPRESSORS: readonly { name: SquashfsCompressor; option: string }[] = [
  { name: 'zstd', option: 'CONFIG_SQUASHFS_ZSTD' },
  { name: 'xz', option: 'CONFIG_SQUASHFS_XZ' },
  { name: 'gzip', option: 'CONFIG_SQUASHFS_ZLIB' },
]

/** The compression every kernel of the image (`/boot/config-<version>`) reads. */
export async function imageCompressor(root: string): Promise<SquashfsCompressor> {
  const boot = await resolveInRoot(root, '/boot', { followLast: true })
  const configs = await Promise.all((await readdir(boot).catch(() => [] as string[])).filter((name) => name.startsWith('config-')).sort().map((name) => readFile(join(boot, name), 'utf8')))
  if (!configs.length) throw new PibakeError("the image has no kernel configuration in /boot (config-<version>): pibake cannot tell which squashfs compression its kernel reads", "use netboot.root 'overlay', which needs no image")
  const readable = COMPRESSORS.find((c) => configs.every((text) => new RegExp(`^${c.option}=y$`, 'm').test(text)))
  if (!readable || !configs.every((text) => /^CONFIG_SQUASHFS=[ym]$/m.test(text))) {
    throw new PibakeError("the image's kernel cannot mount a squashfs image (no CONFIG_SQUASHFS with zstd, xz or zlib in /boot/config-*)", "use netboot.root 'overlay', which needs no image")
  }
  return readable.name
}

export interface RootImage {
  /** The image on this machine. */
  readonly path: string
  readonly bytes: number
  readonly compressor: SquashfsCompressor
  /** False when it was made by an earlier publish of the same content. */
  readonly made: boolean
  /** The sort file's digest when the boot's files come first (order.ts). */
  readonly order?: string | undefined
}

interface ImageRecord {
  readonly key: string
  readonly bytes: number
  readonly compressor: SquashfsCompressor
  readonly order?: string | undefined
}

export function imagesDir(cache: string): string {
  return join(cache, 'roots')
}

export interface RootImageOptions {
  /** The build's SOURCE_DATE_EPOCH: the image's creation time, so that the same tree gives the same image, byte for byte. */
  readonly epoch: number
  /** The files a boot reads, to put first (order.ts); mksquashfs's own order without. */
  readonly order?: ImageOrder | undefined
  readonly signal?: AbortSignal | undefined
  readonly onProgress?: (done: number, total: number) => void
}

/** The image of the tree `root` whose content the publish key `key` names: the cached one, or made now. */
export async function rootImage(cache: string, recipe: string, key: string, root: string, options: RootImageOptions): Promise<RootImage> {
  const dir = imagesDir(cache)
  const path = join(dir, `${recipe}-${key.slice(0, 32)}.squashfs`)
  const order = options.order?.digest
  const known = await lastImage(cache, recipe)
  if (known?.key === key && known.order === order && (await stat(path).then((s) => s.size === known.bytes, () => false))) return { path, bytes: known.bytes, compressor: known.compressor, made: false, order }
  const compressor = await imageCompressor(root)
  await mkdir(dir, { recursive: true })
  const sortFile = options.order && `${path}.sort`
  if (sortFile) await writeFile(sortFile, options.order!.sortText)
  try {
    await mksquashfs(root, `${path}.new`, { compressor, mkfsTime: options.epoch, sortFile, signal: options.signal, onProgress: options.onProgress })
  } finally {
    if (sortFile) await rm(sortFile, { force: true })
  }
  await rename(`${path}.new`, path)
  const bytes = (await stat(path)).size
  const record: ImageRecord = { key, bytes, compressor, ...(order ? { order } : {}) }
  await writeFile(join(dir, `${recipe}.json.new`), `${JSON.stringify(record)}\n`)
  await rename(join(dir, `${recipe}.json.new`), join(dir, `${recipe}.json`))
  const own = new RegExp(`^${recipe}-[0-9a-f]{32}\\.squashfs(\\.new|\\.sort)?$`)
  for (const name of await readdir(dir)) if (own.test(name) && join(dir, name) !== path) await rm(join(dir, name), { force: true })
  return { path, bytes, compressor, made: true, order }
}

/** The recipe's newest image made here, if any: its key and size. */
export async function lastImage(cache: string, recipe: string): Promise<ImageRecord | undefined> {
  const text = await readFile(join(imagesDir(cache), `${recipe}.json`), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const value = JSON.parse(text) as Partial<ImageRecord>
    return typeof value.key === 'string' && typeof value.bytes === 'number' && typeof value.compressor === 'string' && (value.order === undefined || typeof value.order === 'string') ? (value as ImageRecord) : undefined
  } catch {
    return undefined
  }
}
