/**
 * SHA-256 of a file's contents. Small files are read in one request (open, read, close: the
 * fewest thread pool round trips, which dominate on a tree of many small files); big ones, and
 * files that grew since `lstat`, are streamed.
 */
import { createHash } from 'node:crypto'
import { close, createReadStream, open, read } from 'node:fs'

const ONE_READ_LIMIT = 1024 * 1024

/** `size` is the size `lstat` saw. */
export async function hashFile(path: string, size: number, signal?: AbortSignal): Promise<string> {
  const whole = size < ONE_READ_LIMIT ? await readSmall(path, size) : undefined
  if (whole) return createHash('sha256').update(whole).digest('hex')
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { signal, highWaterMark: 256 * 1024 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** The whole file, or undefined when it holds more than `size` bytes. Reads one byte more to tell. */
function readSmall(path: string, size: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    open(path, 'r', (openError, fd) => {
      if (openError) return reject(openError)
      const buffer = Buffer.allocUnsafe(size + 1)
      read(fd, buffer, 0, size + 1, 0, (readError, length) => {
        close(fd, (closeError) => {
          const error = readError ?? closeError
          if (error) reject(error)
          else resolve(length > size ? undefined : buffer.subarray(0, length))
        })
      })
    })
  })
}
