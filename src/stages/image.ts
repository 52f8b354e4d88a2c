/**
 * image: checks the image file against the recipe's sha256 and, for `.img.xz`, decompresses it once
 * into the cache, named by its content hash, so that every later build reuses it.
 */
import { createHash } from 'node:crypto'
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { PreflightError } from '../errors.ts'
import type { Stage, StageContext } from '../pipeline/stage.ts'
import { processAlive } from '../system/cleanup.ts'
import { writeDurable } from '../system/durable.ts'
import { exec } from '../system/exec.ts'
import { isTarballImage, tarballInputs, tarballsIntact, unpackTarballs, verifyTarballs } from './image-tarball.ts'

export const image: Stage = {
  name: 'image',
  kind: 'output',
  version: 1,
  async verify(ctx) {
    if (isTarballImage(ctx.recipe.image.path)) return verifyTarballs(ctx)
    // An .xz not decompressed yet is hashed while xz reads it (one read of the file, on another core),
    // and checked before anything uses it: run() below.
    if (isXz(ctx.recipe.image.path) && !(await exists(imageFile(ctx))) && !(await knownSha256(ctx))) return
    await checkSha256(ctx)
  },
  async inputs(ctx) {
    if (isTarballImage(ctx.recipe.image.path)) return tarballInputs(ctx)
    return { sha256: ctx.recipe.image.sha256, compressed: isXz(ctx.recipe.image.path) }
  },
  async intact(ctx) {
    if (isTarballImage(ctx.recipe.image.path)) return tarballsIntact(ctx)
    return exists(imageFile(ctx))
  },
  async stale(ctx) {
    if (isTarballImage(ctx.recipe.image.path)) return undefined
    return isXz(ctx.recipe.image.path) ? truncated(ctx) : undefined
  },
  async run(ctx) {
    if (isTarballImage(ctx.recipe.image.path)) return unpackTarballs(ctx)
    // Checked already (remembered), unless verify left it to the decompression and another build decompressed it meanwhile.
    if (!isXz(ctx.recipe.image.path) || ((await exists(imageFile(ctx))) && !(await truncated(ctx)))) return checkSha256(ctx)
    await decompress(ctx.recipe.image.path, imageFile(ctx), ctx)
  },
}

const memoFile = (ctx: StageContext) => checksumsFile(ctx.workspace.cache)

/** Where image sha256s are remembered, in a cache folder (`<out>/cache`). */
export const checksumsFile = (cache: string) => join(cache, 'checksums.json')

/** The image file's sha256 if remembered for the file as it is now. */
async function knownSha256(ctx: StageContext): Promise<string | undefined> {
  const { path } = ctx.recipe.image
  const memo = await readMemo(memoFile(ctx))
  return memo[path]?.id === fileId(await stat(path)) ? memo[path].sha256 : undefined
}

async function checkSha256(ctx: StageContext, hashed?: string): Promise<void> {
  const { path, sha256 } = ctx.recipe.image
  const actual = hashed ?? (await fileSha256(path, memoFile(ctx), (done, total) => ctx.emit({ type: 'progress', stage: 'image', done, total, unit: 'bytes' })))
  if (actual !== sha256) {
    throw new PreflightError(
      `image.path: ${path} has sha256 ${actual}, but the recipe says ${sha256}`,
      'the file may be incomplete or corrupt: download it again; if you replaced the image on purpose, update image.sha256',
    )
  }
}

/** The raw image a build reads: the recipe's own `.img`, or its decompressed copy in the cache. */
export function imageFile(ctx: StageContext): string {
  const { path, sha256 } = ctx.recipe.image
  return isXz(path) ? decompressedImageFile(ctx.workspace.cache, sha256) : path
}

/** Where the build keeps an .xz image's decompressed copy: by the .xz file's sha256. */
export function decompressedImageFile(cache: string, sha256: string): string {
  return join(cache, 'images', `${sha256}.img`)
}

export function isXz(path: string): boolean {
  return path.endsWith('.xz')
}

/** Why the decompressed image in the cache cannot be used (cut short, or grown), if it cannot. */
async function truncated(ctx: StageContext): Promise<string | undefined> {
  const file = imageFile(ctx)
  const [size, want] = await Promise.all([stat(file).then((s) => s.size, () => undefined), uncompressedSize(ctx.recipe.image.path, ctx.signal)])
  if (size === undefined || want === undefined || size === want) return undefined
  return `the decompressed image ${file} has ${size} bytes, not the ${want} its .xz holds (cut short or changed): decompressed again`
}

async function decompress(source: string, target: string, ctx: StageContext): Promise<void> {
  await decompressImage(source, target, {
    memoFile: memoFile(ctx),
    signal: ctx.signal,
    onProgress: (done, total) => ctx.emit({ type: 'progress', stage: 'image', done, total, unit: 'bytes' }),
    // Checked before the file takes its cache name: a wrong image never sits where a build would reuse it.
    check: (hashed) => checkSha256(ctx, hashed),
  })
}

export interface DecompressOptions {
  /** Where sha256s of image files are remembered (`<out>/cache/checksums.json`). */
  readonly memoFile: string
  readonly signal: AbortSignal
  readonly onProgress?: (done: number, total: number | undefined) => void
  /** Runs on the .xz file's sha256 before the decompressed file is renamed into place; throws to refuse it. */
  readonly check?: (sha256: string) => Promise<void>
}

/**
 * Decompresses an `.img.xz` into `target` (hashing the .xz on the way), through a partial file of this
 * process's own renamed into place; resolves to the .xz file's sha256. `pibake build` and `pibake init`
 * both put images at the name the build reuses (`<cache>/images/<sha256>.img`).
 */
export async function decompressImage(source: string, target: string, options: DecompressOptions): Promise<string> {
  await mkdir(join(target, '..'), { recursive: true })
  await removeDeadPartials(target)
  // A name of this process's own: another build decompressing the same image at the same time
  // writes its own copy, and the second rename puts an identical file in place.
  const partial = `${target}.${process.pid}.partial`
  const total = await uncompressedSize(source, options.signal)
  const timer = setInterval(() => {
    stat(partial).then((s) => options.onProgress?.(s.size, total), () => {})
  }, 500)
  try {
    const [sha256] = await Promise.all([
      fileSha256(source, options.memoFile),
      exec(['xz', '--decompress', '--stdout', '--threads=0', source], {
        stdoutFile: partial,
        signal: options.signal,
        hint: 'the .xz file is damaged or truncated: download it again (if its sha256 matches, the recipe names a bad file); a full disk also fails here: check `df -h`',
      }),
    ])
    await options.check?.(sha256)
    await rename(partial, target)
    return sha256
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  } finally {
    clearInterval(timer)
  }
}

/** `<image>.<pid>.partial` files of processes that are gone (killed while decompressing). */
async function removeDeadPartials(target: string): Promise<void> {
  const dir = dirname(target)
  const prefix = `${basename(target)}.`
  for (const name of await readdir(dir)) {
    const pid = name.startsWith(prefix) && name.endsWith('.partial') ? Number(name.slice(prefix.length, -'.partial'.length)) : NaN
    if (Number.isInteger(pid) && !processAlive(pid)) await rm(join(dir, name), { force: true })
  }
}

async function uncompressedSize(file: string, signal: AbortSignal): Promise<number | undefined> {
  const { stdout } = await exec(['xz', '--robot', '--list', file], { signal, hint: `${file} is not a valid .xz file` })
  const totals = stdout.split('\n').find((line) => line.startsWith('totals'))
  const size = Number(totals?.split('\t')[4])
  return Number.isFinite(size) ? size : undefined
}

/**
 * SHA-256 of a file, remembered by (path, size, mtime, inode) so an unchanged multi-gigabyte image
 * is hashed once, not on every build.
 */
export async function fileSha256(file: string, memoFile: string, progress?: (done: number, total: number) => void): Promise<string> {
  const info = await stat(file)
  const id = fileId(info)
  const memo = await readMemo(memoFile)
  if (memo[file]?.id === id) return memo[file].sha256
  const sha256 = await hashStream(file, info.size, progress)
  memo[file] = { id, sha256 }
  await mkdir(join(memoFile, '..'), { recursive: true })
  // Builds of other recipes may remember their images at the same time: a temporary name each.
  await writeDurable(memoFile, JSON.stringify(memo, null, 1))
  return sha256
}

/** Remembers a sha256 computed elsewhere (while the file was unpacked) for the file as it is now. */
export async function rememberSha256(file: string, memoFile: string, sha256: string): Promise<void> {
  const memo = await readMemo(memoFile)
  memo[file] = { id: fileId(await stat(file)), sha256 }
  await mkdir(join(memoFile, '..'), { recursive: true })
  await writeDurable(memoFile, JSON.stringify(memo, null, 1))
}

type Memo = Record<string, { id: string; sha256: string }>

function fileId(info: { size: number; mtimeMs: number; ino: number }): string {
  return `${info.size}:${info.mtimeMs}:${info.ino}`
}

async function readMemo(file: string): Promise<Memo> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Memo
  } catch {
    return {}
  }
}

/** Reads the file through one reused buffer: a multi-gigabyte image costs 1 MiB of memory, not a garbage buffer per chunk. */
async function hashStream(file: string, total: number, progress?: (done: number, total: number) => void): Promise<string> {
  const hash = createHash('sha256')
  const buffer = Buffer.allocUnsafe(1 << 20)
  const handle = await open(file, 'r')
  let done = 0
  let reported = 0
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      hash.update(buffer.subarray(0, bytesRead))
      done += bytesRead
      if (progress && done - reported >= 64 << 20) {
        progress(done, total)
        reported = done
      }
    }
  } finally {
    await handle.close()
  }
  return hash.digest('hex')
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false)
}

