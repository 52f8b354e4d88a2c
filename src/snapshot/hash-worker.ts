/**
 * A worker thread of the hash pool (hash-pool.ts): hashes the files of each batch it is sent, one
 * after the other, with synchronous reads into one reused buffer (the reads block only this
 * thread), and answers with each file's SHA-256 or the error that stopped it.
 *
 * The worker runs `hashWorker`'s own text as a script (src/system/script-worker.ts): it takes
 * Node's modules with `process.getBuiltinModule`, and nothing from this module but its types.
 */
import type { HashAnswer, HashBatch, HashFailure } from './hash-pool.ts'

export function hashWorker(): void {
  const { createHash } = process.getBuiltinModule('node:crypto')
  const { closeSync, openSync, readSync } = process.getBuiltinModule('node:fs')
  const { parentPort } = process.getBuiltinModule('node:worker_threads')
  const buffer = Buffer.allocUnsafe(1024 * 1024)

  /** Reads the file to its end, whatever its size was when `lstat` saw it. */
  const hashWhole = (path: string): string => {
    const hash = createHash('sha256')
    const fd = openSync(path, 'r')
    try {
      for (let length = readSync(fd, buffer); length > 0; length = readSync(fd, buffer)) hash.update(buffer.subarray(0, length))
    } finally {
      closeSync(fd)
    }
    return hash.digest('hex')
  }

  const hashOrFailure = (path: string): string | HashFailure => {
    try {
      return hashWhole(path)
    } catch (error) {
      const { message, code, errno, syscall } = error as NodeJS.ErrnoException
      return { message, code, errno, syscall, path }
    }
  }

  parentPort?.on('message', ({ id, paths }: HashBatch) => {
    const answer: HashAnswer = { id, results: paths.map(hashOrFailure) }
    parentPort?.postMessage(answer)
  })
}
