/** SHA-256 of a file's contents: small files in one read, big ones streamed. */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'

const WHOLE_READ_LIMIT = 1024 * 1024

/** `size` is the size `lstat` saw; it only chooses how the file is read. */
export async function hashFile(path: string, size: number, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256')
  if (size <= WHOLE_READ_LIMIT) {
    hash.update(await readFile(path, { signal }))
  } else {
    for await (const chunk of createReadStream(path, { signal, highWaterMark: 256 * 1024 })) hash.update(chunk as Buffer)
  }
  return hash.digest('hex')
}
