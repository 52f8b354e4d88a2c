/**
 * The thread that makes an unpacked tree (writer.ts): carries out each batch it is sent, in order,
 * with synchronous calls (they block only this thread), and answers once per batch. After a call
 * fails, or once the writer is closed (the shared stop flag), it leaves every later operation and
 * closes the file it has open, still answering each batch so that the writer knows it is idle.
 *
 * Runs as a script (src/system/script-worker.ts): Node's modules come from
 * `process.getBuiltinModule`, nothing from this module but its constants and types.
 */

/** Operation codes, each followed by its fields in a batch's flat list. */
export const OP = {
  /** path, mode */
  mkdir: 1,
  /** path, uid, gid */
  lchown: 2,
  /** path */
  unlink: 3,
  /** target, path, uid, gid, mtime (seconds) */
  symlink: 4,
  /** existing path, new path */
  link: 5,
  /** path: creates the file (it must not exist), which the next writes and close are for */
  open: 6,
  /** offset and length in the batch's buffer */
  write: 7,
  /** uid, gid, mode, mtime (seconds) */
  close: 8,
} as const

/** The batch index of the last message, sent when the writer is closed. */
export const STOP = -1

/** The first message: the buffers batches point into, and the stop flag (an Int32); then batches, and at last a batch STOP, without fields. */
export interface WriterSetup {
  readonly buffers: readonly SharedArrayBuffer[]
  readonly stop: SharedArrayBuffer
}

export interface WriteBatch {
  /** Which buffer the batch's contents are in. */
  readonly index: number
  readonly fields: readonly (string | number)[]
}

/** A failed call, as the thread saw it (an Error does not cross threads with its code and path). */
export interface WriteFailure {
  readonly message: string
  readonly code?: string | undefined
  readonly errno?: number | undefined
  readonly syscall?: string | undefined
  readonly path?: string | undefined
}

export interface WriteAnswer {
  readonly index: number
  readonly failure?: WriteFailure
}

export function writeWorker(): void {
  const fs = process.getBuiltinModule('node:fs')
  const { parentPort } = process.getBuiltinModule('node:worker_threads')
  // The constants again: this function runs as a script of its own text, without its module.
  const [MKDIR, LCHOWN, UNLINK, SYMLINK, LINK, OPEN, WRITE, CLOSE] = [1, 2, 3, 4, 5, 6, 7, 8]
  let views: Uint8Array[] = []
  let stop: Int32Array<ArrayBufferLike> = new Int32Array(1)
  /** The file being written, and its path (for an error). */
  let fd = -1
  let path = ''
  let failed = false

  const shut = () => {
    if (fd < 0) return
    const open = fd
    fd = -1
    fs.closeSync(open)
  }

  const run = (bytes: Uint8Array, fields: readonly (string | number)[]) => {
    for (let i = 0; i < fields.length; ) {
      if (Atomics.load(stop, 0)) return
      const op = fields[i++] as number
      switch (op) {
        case WRITE: {
          const offset = fields[i++] as number
          const length = fields[i++] as number
          for (let done = 0; done < length; ) done += fs.writeSync(fd, bytes, offset + done, length - done)
          break
        }
        case OPEN:
          path = fields[i++] as string
          fd = fs.openSync(path, 'wx', 0o600)
          break
        case CLOSE: {
          const [uid, gid, mode, mtime] = fields.slice(i, (i += 4)) as number[]
          fs.fchownSync(fd, uid!, gid!)
          fs.fchmodSync(fd, mode!)
          fs.futimesSync(fd, mtime!, mtime!)
          shut()
          break
        }
        case MKDIR:
          path = fields[i++] as string
          fs.mkdirSync(path, { mode: fields[i++] as number })
          break
        case LCHOWN:
          path = fields[i++] as string
          fs.lchownSync(path, fields[i++] as number, fields[i++] as number)
          break
        case UNLINK:
          path = fields[i++] as string
          fs.unlinkSync(path)
          break
        case SYMLINK: {
          const target = fields[i++] as string
          path = fields[i++] as string
          const [uid, gid, mtime] = fields.slice(i, (i += 3)) as number[]
          fs.symlinkSync(target, path)
          fs.lchownSync(path, uid!, gid!)
          fs.lutimesSync(path, mtime!, mtime!)
          break
        }
        case LINK: {
          const existing = fields[i++] as string
          path = fields[i++] as string
          fs.linkSync(existing, path)
          break
        }
        default:
          throw new Error(`unknown tree operation ${op}`)
      }
    }
  }

  parentPort!.on('message', (message: { buffers?: SharedArrayBuffer[]; stop?: SharedArrayBuffer; index?: number; fields?: (string | number)[] }) => {
    if (message.buffers) {
      views = message.buffers.map((buffer) => new Uint8Array(buffer))
      stop = new Int32Array(message.stop!)
      return
    }
    const index = message.index!
    let failure: WriteFailure | undefined
    if (!failed && index >= 0) {
      try {
        run(views[index]!, message.fields!)
      } catch (error) {
        failed = true
        const { message: text, code, errno, syscall } = error as NodeJS.ErrnoException
        // Node's own errors name their path; a write's names none, the file's is said.
        failure = { message: text, code, errno, syscall, path: (error as NodeJS.ErrnoException).path ?? path }
      }
    }
    if (failed || Atomics.load(stop, 0)) {
      try {
        shut()
      } catch {
        // Closing a file already failed for is no news: the first failure is the one reported.
      }
    }
    parentPort!.postMessage(failure ? { index, failure } : { index })
  })
}
