/**
 * The thread that makes an unpacked tree (writer.ts): carries out each batch of operations it is
 * sent, in order, with synchronous calls (they block only this thread), and answers once per
 * batch, handing the batch's buffer back: done, or the first failure (the batch's later
 * operations are left).
 *
 * Runs as a script (src/system/script-worker.ts): Node's modules come from
 * `process.getBuiltinModule`, nothing from this module but its types.
 */
import type { WriteAnswer, WriteBatch, WriteOp } from './writer.ts'

export function writeWorker(): void {
  const fs = process.getBuiltinModule('node:fs')
  const { parentPort } = process.getBuiltinModule('node:worker_threads')

  const file = (bytes: Uint8Array, op: Extract<WriteOp, { kind: 'file' }>): void => {
    const fd = fs.openSync(op.path, 'wx', 0o600)
    try {
      for (let done = 0; done < op.length; ) done += fs.writeSync(fd, bytes, op.offset + done, op.length - done)
      fs.fchownSync(fd, op.uid, op.gid)
      fs.fchmodSync(fd, op.mode)
      fs.futimesSync(fd, op.mtime, op.mtime)
    } finally {
      fs.closeSync(fd)
    }
  }

  const apply = (bytes: Uint8Array, op: WriteOp): void => {
    switch (op.kind) {
      case 'file':
        return file(bytes, op)
      case 'mkdir':
        fs.mkdirSync(op.path, { mode: op.mode })
        if (op.uid !== undefined && op.gid !== undefined) fs.lchownSync(op.path, op.uid, op.gid)
        return
      case 'lchown':
        return fs.lchownSync(op.path, op.uid, op.gid)
      case 'symlink':
        fs.symlinkSync(op.target, op.path)
        fs.lchownSync(op.path, op.uid, op.gid)
        return fs.lutimesSync(op.path, op.mtime, op.mtime)
      case 'link':
        return fs.linkSync(op.existing, op.path)
      case 'unlink':
        return fs.unlinkSync(op.path)
    }
  }

  parentPort?.on('message', ({ id, data, ops }: WriteBatch) => {
    const bytes = new Uint8Array(data)
    let answer: WriteAnswer = { id, data }
    for (const op of ops) {
      try {
        apply(bytes, op)
      } catch (error) {
        const { message, code, errno, syscall } = error as NodeJS.ErrnoException
        answer = { id, data, failure: { message, code, errno, syscall, path: op.path } }
        break
      }
    }
    parentPort?.postMessage(answer, [data])
  })
}
