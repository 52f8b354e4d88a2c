/**
 * The import of an image tarball on a thread of its own (unpack-worker.ts runs unpack-file.ts):
 * the file read and hashed, the decompressor's output, tar-stream and the tree's calls, all in a
 * heap of their own. Why: the decompressor's output comes as a new 64 KiB buffer per read, about
 * 660 MiB of them for the demo root, and V8 runs a full collection of the heap for every few MiB
 * of such memory; in a build's process (or the bench's), whose heap holds the recipe, the pipeline
 * and their modules, those collections cost more than the rest of the import's own work (measured:
 * 2.4 s in a small heap, 3.4-4.0 s beside 250 MB of live objects). The thread's heap holds the
 * import alone, and the caller's thread is left free.
 */
import { getCompileCacheDir } from 'node:module'
import { Worker } from 'node:worker_threads'
import { CommandError, PibakeError, PreflightError } from '../errors.ts'
import { TarballEntryError } from './names.ts'
import { TarballDamagedError } from './unpack.ts'
import type { UnpackFileOptions } from './unpack-file.ts'

/** What the thread is given: unpack-file.ts's arguments. */
export interface UnpackJob {
  readonly file: string
  readonly into: string
  readonly split?: UnpackFileOptions['split']
  /** The caller's compile cache (cli.ts enables one), used by the thread for its own modules. */
  readonly compileCache?: string
}

/** What the thread says: progress, then its sha256 or its error, once. */
export type UnpackMessage =
  | { readonly type: 'progress'; readonly done: number; readonly total: number }
  | { readonly type: 'done'; readonly sha256: string }
  | { readonly type: 'failed'; readonly error: SentError }

/** An error as fields: a thread's errors reach another as plain objects, without their class or their own fields. */
export interface SentError {
  readonly className: string
  readonly fields: Record<string, unknown>
  readonly cause?: SentError
}

const WORKER = new URL(import.meta.url.endsWith('.ts') ? './unpack-worker.ts' : './unpack-worker.js', import.meta.url)

/**
 * Unpacks `job.file` into `job.into` on its own thread; resolves to the file's sha256. Settles
 * only once the thread is gone (the decompressor with it): on an abort, with the signal's reason.
 */
export function unpackInThread(job: UnpackJob, options: Pick<UnpackFileOptions, 'signal' | 'onProgress'> = {}): Promise<string> {
  const { signal } = options
  if (signal?.aborted) return Promise.reject(signal.reason as Error)
  return new Promise<string>((resolve, reject) => {
    const compileCache = getCompileCacheDir()
    const worker = new Worker(WORKER, { workerData: { ...job, ...(compileCache ? { compileCache } : {}) } satisfies UnpackJob })
    let outcome: { sha256: string } | { error: Error } | undefined
    const aborted = () => worker.postMessage('abort')
    signal?.addEventListener('abort', aborted, { once: true })
    worker.on('message', (message: UnpackMessage) => {
      if (message.type === 'progress') options.onProgress?.(message.done, message.total)
      else outcome ??= message.type === 'done' ? { sha256: message.sha256 } : { error: receiveError(message.error) }
    })
    // An uncaught error of the thread itself (a bug, or a module that would not load).
    worker.on('error', (error) => (outcome ??= { error }))
    worker.on('exit', (code) => {
      signal?.removeEventListener('abort', aborted)
      if (signal?.aborted) return reject(signal.reason as Error)
      if (!outcome) return reject(new Error(`the thread that unpacks ${job.file} ended (exit code ${code}) without an answer`))
      if ('sha256' in outcome) resolve(outcome.sha256)
      else reject(outcome.error)
    })
  })
}

/** The classes an import's error may have, rebuilt on the caller's side with their fields (hint, argv, exitCode, code…). */
const CLASSES: Record<string, { prototype: Error }> = { CommandError, PibakeError, PreflightError, TarballDamagedError, TarballEntryError }

export function sendError(error: unknown): SentError {
  if (!(error instanceof Error)) return { className: 'Error', fields: { message: String(error) } }
  const fields: Record<string, unknown> = { message: error.message, name: error.name, stack: error.stack }
  for (const [key, value] of Object.entries(error)) if (key !== 'cause' && isPlain(value)) fields[key] = value
  return { className: error.constructor.name, fields, ...(error.cause === undefined ? {} : { cause: sendError(error.cause) }) }
}

export function receiveError(sent: SentError): Error {
  const error = new Error(String(sent.fields.message), sent.cause ? { cause: receiveError(sent.cause) } : undefined)
  const known = CLASSES[sent.className]
  if (known) Object.setPrototypeOf(error, known.prototype)
  return Object.assign(error, sent.fields)
}

function isPlain(value: unknown): boolean {
  if (value === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof value)) return true
  return Array.isArray(value) && value.every((item) => typeof item === 'string')
}
