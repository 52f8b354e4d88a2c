/**
 * Which tarballs pibake reads and writes (`.tar`, `.tar.xz`, `.tar.zst`), named by their file
 * name, and the streams between such a file and a tar stream (xz and zstd run as filters).
 */
import { createReadStream, createWriteStream } from 'node:fs'
import type { Readable, Writable } from 'node:stream'
import { open } from 'node:fs/promises'
import { finished } from 'node:stream/promises'
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
  /**
   * Settles once the file is read to its end (or stopped) and the decompressor exited: resolves
   * when both went well, else rejects with what went wrong first (a read error, then the
   * decompressor's own error, which says why its output ended early).
   */
  readonly done: Promise<void>
  /** Stops reading (after a failure downstream). */
  stop(error: Error): void
}

/** Reads the tarball `file` as a tar stream, showing every chunk of the file itself to `onChunk` (to hash it) on the way. */
export function readTarball(file: string, options: { readonly onChunk?: (chunk: Buffer) => void; readonly signal?: AbortSignal } = {}): TarReader {
  const kind = tarballKind(file)
  if (kind === 'tar') {
    // The file's own chunks are the tar stream: the parser keeps pieces of them, they are not reused.
    const source = createReadStream(file, { highWaterMark: 1 << 20 })
    if (options.onChunk) source.on('data', (chunk) => options.onChunk!(chunk as Buffer))
    const done = new Promise<void>((resolve, reject) => source.on('end', resolve).on('error', reject))
    done.catch(() => {})
    return { tar: source, done, stop: (error) => source.destroy(error) }
  }
  const filter = kind === 'tar.xz' ? xzDecompress(file, options.signal) : zstdDecompress(file, options.signal)
  const feeding = { stopped: false, readError: undefined as unknown }
  const fed = feed(file, filter.stdin, options.onChunk, feeding)
  const done = Promise.allSettled([fed, filter.done]).then(([fedResult, decompressing]) => {
    if (feeding.readError) throw feeding.readError
    if (decompressing.status === 'rejected') throw decompressing.reason
    if (fedResult.status === 'rejected') throw fedResult.reason
  })
  done.catch(() => {})
  return {
    tar: filter.stdout,
    done,
    stop: (error) => {
      feeding.stopped = true
      filter.stdin.destroy(error)
      filter.stdout.destroy(error)
    },
  }
}

/** The size of the reads of a compressed tarball. */
const FEED_CHUNK = 1 << 20

/**
 * Writes the file `file` into the decompressor's stdin, through two buffers read into in turn,
 * each again only once its write is done: V8 runs a full collection for about every 16 MiB of new
 * buffers, and the demo root's 186 MB archive read into new ones cost 14 of them (54 against 40,
 * with the decompressor's output). A read error is kept apart (it says more than the
 * decompressor's error that follows).
 */
async function feed(file: string, sink: Writable, onChunk: ((chunk: Buffer) => void) | undefined, state: { stopped: boolean; readError: unknown }): Promise<void> {
  // Failures reach the write callbacks and `finished`; without a listener an 'error' event would end the process.
  sink.on('error', () => {})
  const read = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call()
    } catch (error) {
      if (!state.stopped) state.readError ??= error
      sink.destroy(error as Error)
      throw error
    }
  }
  const handle = await read(() => open(file, 'r'))
  try {
    const buffers = [Buffer.allocUnsafeSlow(FEED_CHUNK), Buffer.allocUnsafeSlow(FEED_CHUNK)]
    const writes: (Promise<void> | undefined)[] = [undefined, undefined]
    for (let turn = 0; ; turn ^= 1) {
      await writes[turn]
      if (state.stopped || sink.destroyed) throw new Error(`reading ${file} was stopped`)
      const buffer = buffers[turn]!
      const { bytesRead } = await read(() => handle.read(buffer, 0, FEED_CHUNK, null))
      if (!bytesRead) break
      const chunk = buffer.subarray(0, bytesRead)
      onChunk?.(chunk)
      writes[turn] = new Promise<void>((resolve, reject) => sink.write(chunk, (error) => (error ? reject(error) : resolve())))
      // Awaited before the buffer is read into again, or below.
      writes[turn]!.catch(() => {})
    }
    await Promise.all(writes)
    sink.end()
    await finished(sink)
  } finally {
    await handle.close()
  }
}

/**
 * Writes the tar stream `tar` into `file`, compressed as `kind` says (by default, as the file's name
 * says). One write is in flight while the next chunk is made: a chunk is written before the one
 * after it is asked for, so a source may fill two buffers in turn.
 */
export async function writeTarball(tar: AsyncIterable<unknown>, file: string, options: { readonly kind?: TarballKind; readonly signal?: AbortSignal } = {}): Promise<void> {
  const { signal } = options
  const kind = options.kind ?? tarballKind(file)
  if (!kind) throw new TypeError(`writeTarball: ${file} does not end in ${TARBALL_SUFFIXES.join(', ')}`)
  if (kind === 'tar') return writeAll(batched(tar), createWriteStream(file), signal)
  const filter = kind === 'tar.xz' ? xzCompress(file, signal) : zstdCompress(file, signal)
  await Promise.all([writeAll(batched(tar), filter.stdin as Writable, signal), filter.done])
}

/**
 * Writes every chunk into `sink`, then ends it. The next chunk is made while the previous one is
 * written (a wait for each write before the next chunk left the compressor idle while the tree was
 * read, and the reading idle while it compressed), and written once that write finished.
 */
async function writeAll(chunks: AsyncIterable<Buffer>, sink: Writable, signal?: AbortSignal): Promise<void> {
  // Failures reach the write callbacks and `finished`; without a listener an 'error' event would end the process.
  sink.on('error', () => {})
  let writing: Promise<void> | undefined
  try {
    for await (const chunk of chunks) {
      signal?.throwIfAborted()
      await writing
      writing = new Promise<void>((resolve, reject) => sink.write(chunk, (error) => (error ? reject(error) : resolve())))
      // Settled by the await above or below; a failure meanwhile is not unhandled.
      writing.catch(() => {})
    }
    await writing
    sink.end()
    await finished(sink)
  } catch (error) {
    sink.destroy(error as Error)
    throw error
  }
}

/** Small chunks (headers, paddings, small files) are gathered into writes of about this size; a tar stream's 512-byte pieces would cost a system call each. */
const BATCH = 1 << 20
/** Chunks from this size on are passed on as they are: copying them costs more than their write. */
const LARGE = 64 << 10

/**
 * The chunks of `chunks`, small ones copied at once into a batch (the source may refill their
 * buffer when its next chunk is asked for, while a batch waits). A batch is handed on when full and
 * written while the other is filled: one write is in flight at a time (writeAll).
 */
async function* batched(chunks: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  const batches = [Buffer.allocUnsafe(BATCH), Buffer.allocUnsafe(BATCH)]
  let batch = batches[0]!
  let size = 0
  const flush = () => {
    const full = batch.subarray(0, size)
    batch = batch === batches[0] ? batches[1]! : batches[0]!
    size = 0
    return full
  }
  for await (const chunk of chunks) {
    const buffer = chunk as Buffer
    if (buffer.length >= LARGE) {
      if (size) yield flush()
      yield buffer
      continue
    }
    if (size + buffer.length > BATCH) yield flush()
    buffer.copy(batch, size)
    size += buffer.length
  }
  if (size) yield flush()
}
