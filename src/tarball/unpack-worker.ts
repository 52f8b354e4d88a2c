/** The thread of unpack-thread.ts: unpacks the file it is given, says how far it got, then its sha256 or its error. */
import { parentPort, workerData } from 'node:worker_threads'
import { unpackFile } from './unpack-file.ts'
import { sendError, type UnpackJob, type UnpackMessage } from './unpack-thread.ts'

const port = parentPort!
const job = workerData as UnpackJob
const controller = new AbortController()
const post = (message: UnpackMessage) => port.postMessage(message)
port.on('message', (message) => {
  if (message === 'abort') controller.abort()
})
unpackFile(job.file, job.into, { signal: controller.signal, onProgress: (done, total) => post({ type: 'progress', done, total }), ...(job.split ? { split: job.split } : {}) })
  .then((sha256) => post({ type: 'done', sha256 }), (error: unknown) => post({ type: 'failed', error: sendError(error) }))
  // Nothing else keeps the thread: it ends, and the caller settles.
  .finally(() => port.close())
