/**
 * A worker thread of the hash pool (hash-pool.ts): hashes the files of each batch it is sent, one
 * after the other, with synchronous reads into one reused buffer (the reads block only this
 * thread), and answers with each file's SHA-256 or the error that stopped it.
 *
 * Plain JavaScript syntax with type annotations only, so that it runs as TypeScript from src/ and
 * as the compiled .js from dist/.
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'
import type { HashAnswer, HashBatch, HashFailure } from './hash-pool.ts'

const buffer = Buffer.allocUnsafe(1024 * 1024)

parentPort?.on('message', ({ id, paths }: HashBatch) => {
  const answer: HashAnswer = { id, results: paths.map(hashOrFailure) }
  parentPort?.postMessage(answer)
})

function hashOrFailure(path: string): string | HashFailure {
  try {
    return hashWhole(path)
  } catch (error) {
    const { message, code, errno, syscall } = error as NodeJS.ErrnoException
    return { message, code, errno, syscall, path }
  }
}

/** Reads the file to its end, whatever its size was when `lstat` saw it. */
function hashWhole(path: string): string {
  const hash = createHash('sha256')
  const fd = openSync(path, 'r')
  try {
    for (let length = readSync(fd, buffer); length > 0; length = readSync(fd, buffer)) hash.update(buffer.subarray(0, length))
  } finally {
    closeSync(fd)
  }
  return hash.digest('hex')
}
