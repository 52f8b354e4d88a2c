/**
 * Which tarballs pibake reads and writes (`.tar`, `.tar.xz`, `.tar.zst`), named by their file
 * name, and the streams between such a file and a tar stream (xz and zstd run as filters).
 */
import type { Hash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import type { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { xzCompress, xzDecompress } from '../system/xz.ts'
import { zstdCompress, zstdDecompress } from '../system/zstd.ts'

export type TarballKind = 'tar' | 'tar.xz' | 'tar.zst'

export const TARBALL_SUFFIXES: readonly string[] = ['.tar', '.tar.xz', '.tar.zst']

export function tarballKind(path: string): TarballKind | undefined {
  if (path.endsWith('.tar')) return 'tar'
  if (path.endsWith('.tar.xz')) return 'tar.xz'
  if (path.endsWith('.tar.zst')) return 'tar.zst'
  return undefined
}

export interface TarReader {
  /** The archive's tar stream. */
  readonly tar: Readable
  /** Resolves when the file was read to its end and the decompressor exited 0. */
  readonly done: Promise<void>
  /** Stops reading (after a failure downstream). */
  stop(error: Error): void
}

/** Reads the tarball `file` as a tar stream, feeding every byte of the file to `hash` on the way. */
export function readTarball(file: string, options: { readonly hash?: Hash; readonly signal?: AbortSignal } = {}): TarReader {
  const kind = tarballKind(file)
  const source = createReadStream(file, { highWaterMark: 1 << 20 })
  if (options.hash) source.on('data', (chunk) => options.hash!.update(chunk))
  if (kind === 'tar') {
    const done = new Promise<void>((resolve, reject) => source.on('end', resolve).on('error', reject))
    done.catch(() => {})
    return { tar: source, done, stop: (error) => source.destroy(error) }
  }
  const filter = kind === 'tar.xz' ? xzDecompress(file, options.signal) : zstdDecompress(file, options.signal)
  const fed = pipeline(source, filter.stdin)
  const done = Promise.all([fed, filter.done]).then(() => {})
  done.catch(() => {})
  return {
    tar: filter.stdout,
    done,
    stop: (error) => {
      source.destroy(error)
      filter.stdout.destroy(error)
    },
  }
}

/** Writes the tar stream `tar` into `file`, compressed as its name says. */
export async function writeTarball(tar: AsyncIterable<unknown>, file: string, signal?: AbortSignal): Promise<void> {
  const kind = tarballKind(file)
  if (kind === 'tar') return pipeline(tar, createWriteStream(file), { signal })
  const filter = kind === 'tar.xz' ? xzCompress(file, signal) : zstdCompress(file, signal)
  await Promise.all([pipeline(tar, filter.stdin as Writable), filter.done])
}

