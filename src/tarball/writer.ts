/**
 * Makes an unpacked tree on a thread of its own (write-worker.ts) while the thread that called it
 * reads, hashes, parses and checks the archive. Why a second thread: creating, writing and closing
 * a root's 16,000 files is kernel time (most of what `tar -x` spends, on ONE core), and the
 * parsing thread's own work (the tar stream through JavaScript, tar-stream, the checks) is about as much
 * again: on one thread they add up, on two they overlap.
 *
 * One thread, in the archive's order, as tar does: a folder is made before its entries, a file
 * before a hard link to it, an entry removed before the one that replaces it. Files made in
 * parallel would wait for each other's folder locks (the archive is sorted: its files come folder
 * by folder), and a libuv round trip per call cost three times the CPU of the calls themselves.
 *
 * Operations and file contents are gathered into batches (contents copied into one of a few
 * shared buffers, allocated once: a new buffer per batch, or one handed over, would be more
 * external memory for V8 to collect, as the decompressor's own chunks already are). A batch goes
 * to the thread when it is full, or, when the thread is idle, at the end of the event loop's turn,
 * so that it never waits for a batch to fill while the archive is slow to come. The caller
 * checks every entry before it is queued; the thread only carries out. The writer never blocks:
 * what does not fit while every buffer is out waits in `#pending`, and `busy` tells the caller to
 * hold the archive back until `whenReady`.
 */
import type { Worker } from 'node:worker_threads'
import { scriptWorker } from '../system/script-worker.ts'
import { OP, STOP, writeWorker, type WriteAnswer, type WriteBatch, type WriteFailure } from './write-worker.ts'

/** Bytes of contents per batch, and the number of batches that may be out at once. */
const BATCH_BYTES = 1 << 20
const BUFFERS = 8
/** A batch is sent once it holds this many operation fields, contents or not. */
const BATCH_FIELDS = 2048

type Op = readonly (string | number)[]

export class TreeWriter {
  readonly #buffers = Array.from({ length: BUFFERS }, () => new SharedArrayBuffer(BATCH_BYTES))
  readonly #views = this.#buffers.map((buffer) => new Uint8Array(buffer))
  readonly #free = this.#buffers.map((_, index) => index).reverse()
  /** Set to 1 when the writer is closed: the thread leaves the rest of what it was sent. */
  readonly #stop = new Int32Array(new SharedArrayBuffer(4))
  #worker: Worker | undefined
  #batch: { readonly index: number; used: number; fields: (string | number)[] } | undefined
  #inFlight = 0
  /** Operations and contents (in order) waiting for a free buffer. */
  #pending: (Op | Uint8Array)[] = []
  #failure: Error | undefined
  /** A send to an idle thread is due at the end of this turn of the event loop (`#soon`). */
  #scheduled = false
  #waiters: (() => void)[] = []
  readonly #onFailure: (error: Error) => void

  /** `onFailure` hears of the first call that failed on the thread (once). */
  constructor(onFailure: (error: Error) => void) {
    this.#onFailure = onFailure
  }

  /** True while queued work waits for a buffer: hold the archive back until `whenReady`. */
  get busy(): boolean {
    return this.#pending.length > 0
  }

  /** Calls `resume` once nothing waits for a buffer (at once when nothing does). */
  whenReady(resume: () => void): void {
    if (!this.busy || this.#failure) return resume()
    this.#waiters.push(() => this.whenReady(resume))
  }

  mkdir(path: string, mode: number): void {
    this.#queue([OP.mkdir, path, mode])
  }

  lchown(path: string, uid: number, gid: number): void {
    this.#queue([OP.lchown, path, uid, gid])
  }

  unlink(path: string): void {
    this.#queue([OP.unlink, path])
  }

  /** A symlink with its owner and time (seconds). */
  symlink(target: string, path: string, uid: number, gid: number, mtime: number): void {
    this.#queue([OP.symlink, target, path, uid, gid, mtime])
  }

  link(existing: string, path: string): void {
    this.#queue([OP.link, existing, path])
  }

  /** Creates the file `path` (it must not exist); its contents follow with `write`, then `finishFile`. */
  createFile(path: string): void {
    this.#queue([OP.open, path])
  }

  /** Contents of the file created last, copied before this returns: `bytes` may be reused at once. */
  write(bytes: Uint8Array): void {
    if (this.#failure || Atomics.load(this.#stop, 0)) return
    if (this.#pending.length || !this.#fill()) this.#pending.push(Uint8Array.prototype.slice.call(bytes))
    else this.#copy(bytes)
  }

  /** Gives the file created last its owner, mode and time (seconds), and closes it. */
  finishFile(uid: number, gid: number, mode: number, mtime: number): void {
    this.#queue([OP.close, uid, gid, mode, mtime])
  }

  /** Resolves once everything queued so far is done; rejects with the first failure. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.#failure) throw this.#failure
      if (!this.#pending.length && this.#batch?.fields.length) this.#send()
      if (!this.#pending.length && !this.#inFlight && !this.#batch?.fields.length) return
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }

  /**
   * Stops the thread: what it was sent and has not started is left undone, the file it has open
   * is closed. Resolves once it is gone: nothing of this writer touches the tree after that.
   */
  async close(): Promise<void> {
    Atomics.store(this.#stop, 0, 1)
    // A flush still waiting fails: what it waited for will not be done.
    this.#failure ??= new Error('the tree writer was closed')
    this.#pending = []
    if (this.#batch) {
      this.#free.push(this.#batch.index)
      this.#batch = undefined
    }
    this.#wake()
    // The thread may hold a file open between batches: told to stop, it closes it and answers.
    if (this.#worker) {
      this.#inFlight++
      this.#worker.postMessage({ index: STOP, fields: [] } satisfies WriteBatch)
    }
    while (this.#inFlight && this.#worker) await new Promise<void>((resolve) => this.#waiters.push(resolve))
    const worker = this.#worker
    this.#worker = undefined
    await worker?.terminate()
  }

  #queue(op: Op): void {
    if (this.#failure || Atomics.load(this.#stop, 0)) return
    if (this.#pending.length || !this.#fill()) return void this.#pending.push(op)
    this.#push(op)
  }

  #push(op: Op): void {
    const fields = this.#batch!.fields
    for (const field of op) fields.push(field)
    if (fields.length >= BATCH_FIELDS) this.#send()
    else this.#soon()
  }

  /**
   * An idle thread gets the batch being filled once this turn of the event loop is over: by then
   * the parser has gone through the input it had (a message per entry cost more than the entry).
   */
  #soon(): void {
    if (this.#inFlight || this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      if (!this.#inFlight && !this.#pending.length && this.#batch?.fields.length && !Atomics.load(this.#stop, 0)) this.#send()
    })
  }

  /** Copies `bytes` into batches, sent as they fill; what finds no buffer waits in `#pending`. */
  #copy(bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length; ) {
      if (!this.#fill()) return void this.#pending.push(bytes.slice(done))
      const batch = this.#batch!
      const length = Math.min(bytes.length - done, BATCH_BYTES - batch.used)
      this.#views[batch.index]!.set(bytes.subarray(done, done + length), batch.used)
      batch.fields.push(OP.write, batch.used, length)
      batch.used += length
      done += length
      if (batch.used === BATCH_BYTES || batch.fields.length >= BATCH_FIELDS) this.#send()
      else this.#soon()
    }
  }

  /** A batch with room to fill, when a buffer is free. */
  #fill(): boolean {
    if (this.#batch) return true
    const index = this.#free.pop()
    if (index === undefined) return false
    this.#batch = { index, used: 0, fields: [] }
    return true
  }

  #send(): void {
    const batch = this.#batch!
    this.#batch = undefined
    this.#inFlight++
    const message: WriteBatch = { index: batch.index, fields: batch.fields }
    this.#start().postMessage(message)
  }

  #start(): Worker {
    if (this.#worker) return this.#worker
    const worker = scriptWorker(writeWorker)
    worker.postMessage({ buffers: this.#buffers, stop: this.#stop.buffer })
    worker.on('message', (answer: WriteAnswer) => this.#answered(answer))
    // The thread is gone: no answer comes for what it was sent.
    worker.on('error', (error) => this.#gone(error))
    worker.on('exit', (code) => {
      if (this.#worker === worker) this.#gone(new Error(`the thread that writes the unpacked tree stopped (exit code ${code})`))
    })
    return (this.#worker = worker)
  }

  #answered({ index, failure }: WriteAnswer): void {
    this.#inFlight--
    if (index !== STOP) this.#free.push(index)
    if (failure) this.#fail(rebuilt(failure))
    else if (!this.#failure && !Atomics.load(this.#stop, 0)) {
      this.#drain()
      if (this.#batch?.fields.length) this.#soon()
    }
    this.#wake()
  }

  /** Moves waiting work into free buffers, in order. */
  #drain(): void {
    const pending = this.#pending
    this.#pending = []
    for (let i = 0; i < pending.length; i++) {
      const item = pending[i]!
      if (!this.#fill()) {
        this.#pending = pending.slice(i)
        return
      }
      if (item instanceof Uint8Array) {
        this.#copy(item)
        // Not all of it found room: the rest went into `#pending`, before what follows it.
        if (this.#pending.length) {
          this.#pending.push(...pending.slice(i + 1))
          return
        }
      } else this.#push(item)
    }
  }

  #gone(error: Error): void {
    this.#worker = undefined
    this.#inFlight = 0
    this.#fail(error)
    this.#wake()
  }

  /** The first failure: the thread leaves what follows it (write-worker.ts), nothing more is queued. */
  #fail(error: Error): void {
    if (this.#failure) return
    this.#failure = error
    this.#pending = []
    this.#onFailure(error)
  }

  #wake(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }
}

/** The failed call as an Error again, with the code and path that Node's own error has. */
function rebuilt(failure: WriteFailure): Error {
  return Object.assign(new Error(failure.message), failure.code === undefined ? {} : { code: failure.code }, failure.errno === undefined ? {} : { errno: failure.errno }, failure.syscall === undefined ? {} : { syscall: failure.syscall }, failure.path === undefined ? {} : { path: failure.path })
}
