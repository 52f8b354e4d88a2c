/**
 * An image tarball unpacked in a worker thread (image.ts): the file read and hashed, decompressed,
 * parsed by tar-stream and made into files, all in the worker; the main thread only waits.
 *
 * Why a thread: the decompressor's output arrives as ~10,000 new 64 KiB buffers per GB, and V8
 * answers that much outside memory with a full mark-compact every ~16 MB, whose cost grows with the
 * heap it marks. In a build's process (recipe, renderer, stages loaded) that heap is several times
 * the worker's, and the collections cost about a second of CPU per demo root: measured, the same
 * unpack took ~1 s less CPU in a worker than beside the rest of pibake. The main thread also stays
 * free to render progress meanwhile.
 *
 * This module is the worker's entry (`workerData` is an `UnpackJob`) and the protocol's types.
 */
import { createHash } from 'node:crypto'
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { readTarball } from './compression.ts'
import { unpackTar } from './unpack.ts'

export interface UnpackJob {
  readonly file: string
  /** The folder the tree goes in. */
  readonly into: string
  readonly split?: { readonly prefix: string; readonly dir: string }
}

/** An error as it crosses threads: its class by name, and its own fields (an Error is cloned without them). */
export interface SentError {
  readonly className: string
  readonly message: string
  readonly stack: string | undefined
  readonly props: Record<string, unknown>
  readonly cause?: string
}

/** What the worker tells the main thread; it ends after `done` or `failed`. */
export type UnpackReport =
  | { readonly progress: number }
  | { readonly done: { readonly sha256: string; readonly entries: number } }
  | { readonly failed: SentError; readonly aborted: boolean }

/** The main thread's one message: stop. */
export const ABORT = 'abort'

/** Progress is reported every this many bytes of the tarball. */
const PROGRESS_BYTES = 64 << 20

export function sendable(error: unknown): SentError {
  if (!(error instanceof Error)) return { className: 'Error', message: String(error), stack: undefined, props: {} }
  const props: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(error)) {
    try {
      props[key] = structuredClone(value)
    } catch {
      // A field that cannot cross threads (a function, a handle) is left out.
    }
  }
  const cause = error.cause instanceof Error ? { cause: error.cause.message } : {}
  return { className: error.constructor.name, message: error.message, stack: error.stack, props, ...cause }
}

/** Reads, checks the names of and unpacks `job.file`; resolves to its sha256 and the number of entries. */
async function unpackJob(job: UnpackJob, signal: AbortSignal, onProgress: (done: number) => void): Promise<{ sha256: string; entries: number }> {
  const hash = createHash('sha256')
  let done = 0
  let shown = 0
  const reader = readTarball(job.file, {
    signal,
    onChunk: (chunk) => {
      hash.update(chunk)
      done += chunk.length
      if (done - shown >= PROGRESS_BYTES) onProgress((shown = done))
    },
  })
  const { entries } = await unpackTar(reader.tar, job.into, { archive: job.file, signal, ...(job.split ? { split: job.split } : {}) }).catch(async (error: unknown) => {
    // The decompressor's output ended by itself: when the decompressor failed, its error says why the tar stream stops short.
    const ended = reader.tar.readableEnded
    reader.stop(error as Error)
    // Nothing of the decompressor is left running when the unpack fails.
    const failure: unknown = await reader.done.then(() => undefined, (e: unknown) => e)
    throw ended && failure && !signal.aborted ? failure : error
  })
  await reader.done
  return { sha256: hash.digest('hex'), entries }
}

if (!isMainThread && parentPort && (workerData as { unpackJob?: UnpackJob } | undefined)?.unpackJob) {
  const port = parentPort
  const controller = new AbortController()
  port.on('message', (message) => {
    if (message === ABORT) controller.abort()
  })
  const report = (message: UnpackReport) => port.postMessage(message)
  unpackJob((workerData as { unpackJob: UnpackJob }).unpackJob, controller.signal, (progress) => report({ progress })).then(
    (done) => report({ done }),
    (error: unknown) => report({ failed: sendable(error), aborted: controller.signal.aborted }),
  )
}
