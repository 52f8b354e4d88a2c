/**
 * The thread of unpack-thread.ts: unpacks the file it is given, says how far it got, then its
 * sha256 or its error. Its modules load after the caller's compile cache is on: starting the
 * thread is most of what it costs beside the unpack itself (~0.35 s from the TypeScript sources
 * without the cache, ~0.2 s with it).
 */
import { enableCompileCache } from 'node:module'
import { parentPort, workerData } from 'node:worker_threads'
import type { UnpackJob, UnpackMessage } from './unpack-thread.ts'

const port = parentPort!
const job = workerData as UnpackJob
if (job.compileCache) enableCompileCache(job.compileCache)
const controller = new AbortController()
const post = (message: UnpackMessage) => port.postMessage(message)
port.on('message', (message) => {
  if (message === 'abort') controller.abort()
})
const [{ unpackFile }, { sendError }] = await Promise.all([import('./unpack-file.ts'), import('./unpack-thread.ts')])
unpackFile(job.file, job.into, { signal: controller.signal, onProgress: (done, total) => post({ type: 'progress', done, total }), ...(job.split ? { split: job.split } : {}) })
  .then((sha256) => post({ type: 'done', sha256 }), (error: unknown) => post({ type: 'failed', error: sendError(error) }))
  // Nothing else keeps the thread: it ends, and the caller settles.
  .finally(() => port.close())
