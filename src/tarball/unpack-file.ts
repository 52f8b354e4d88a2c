/**
 * One tarball file read once and unpacked, the sha256 of its bytes taken on the way: what the
 * import of an image tarball does on its thread (unpack-thread.ts).
 */
import { createHash } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { readTarball } from './compression.ts'
import { unpackTar, type UnpackOptions } from './unpack.ts'

export interface UnpackFileOptions {
  /** Entries below `prefix` go into `dir` instead (unpack.ts). */
  readonly split?: UnpackOptions['split']
  readonly signal?: AbortSignal
  /** Bytes of the file read so far, and its size: every 64 MiB. */
  readonly onProgress?: (done: number, total: number) => void
}

/** Unpacks the tarball `file` into `into`; resolves to its sha256 once it is read to its end and the decompressor is gone. */
export async function unpackFile(file: string, into: string, options: UnpackFileOptions = {}): Promise<string> {
  const hash = createHash('sha256')
  const total = (await stat(file)).size
  let done = 0
  let shown = 0
  const reader = readTarball(file, {
    ...(options.signal ? { signal: options.signal } : {}),
    onChunk: (chunk) => {
      hash.update(chunk)
      done += chunk.length
      if (done - shown >= 64 << 20) options.onProgress?.((shown = done), total)
    },
  })
  await unpackTar(reader.tar, into, { archive: file, ...(options.signal ? { signal: options.signal } : {}), ...(options.split ? { split: options.split } : {}) }).catch(async (error: unknown) => {
    // The decompressor's output ended by itself: when the decompressor failed, its error says why the tar stream stops short.
    const ended = reader.tar.readableEnded
    reader.stop(error as Error)
    // Nothing of the decompressor is left running when the unpack fails.
    const failure: unknown = await reader.done.then(() => undefined, (e: unknown) => e)
    throw ended && failure && !options.signal?.aborted ? failure : error
  })
  await reader.done
  return hash.digest('hex')
}
