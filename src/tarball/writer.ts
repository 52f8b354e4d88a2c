/**
 * Makes an unpacked tree on a thread of its own (write-worker.ts), while this thread reads,
 * decompresses and checks the archive: creating folders and files, writing them and setting
 * their owners, modes and times are system calls whose cost is most of an unpack, and a thread
 * blocked in them cannot keep the decompressor fed. One thread, as tar does: the operations stay
 * in the archive's order (a folder before its files, a file before a hard link to it), and
 * creating files in parallel only made the calls wait for each other's folder locks.
 *
 * Operations and file contents are gathered into batches (up to 4 MiB of contents or 512
 * operations, one buffer each, handed over and back without a copy), up to eight batches in
 * flight: on a loaded machine this thread may wait its turn a while before it sends the next.
 */
import type { Worker } from 'node:worker_threads'
import { scriptWorker } from '../system/script-worker.ts'
import { writeWorker } from './write-worker.ts'

export type WriteOp =
  | { readonly kind: 'file'; readonly path: string; readonly offset: number; readonly length: number; readonly uid: number; readonly gid: number; readonly mode: number; readonly mtime: number }
  | { readonly kind: 'mkdir'; readonly path: string; readonly mode: number; readonly uid?: number; readonly gid?: number }
  | { readonly kind: 'lchown'; readonly path: string; readonly uid: number; readonly gid: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string; readonly uid: number; readonly gid: number; readonly mtime: number }
  | { readonly kind: 'link'; readonly path: string; readonly existing: string }
  | { readonly kind: 'unlink'; readonly path: string }

export interface WriteBatch {
  readonly id: number
  readonly data: ArrayBuffer
  readonly ops: readonly WriteOp[]
}

/** A failed call, as the worker saw it (an Error does not cross threads with its code). */
export interface WriteFailure {
  readonly message: string
  readonly code?: string | undefined
  readonly errno?: number | undefined
  readonly syscall?: string | undefined
  readonly path: string
}

export interface WriteAnswer {
  readonly id: number
  /** The batch's buffer, back for the next batch. */
  readonly data: ArrayBuffer
  readonly failure?: WriteFailure
}

const BATCH_BYTES = 4 * 1024 * 1024
const BATCH_OPS = 512
const IN_FLIGHT = 8

/** A file's contents, given in pieces after `reserve`. */
type FileOp = Omit<Extract<WriteOp, { kind: 'file' }>, 'kind' | 'offset' | 'length'>

export class TreeWriter {
  #worker: Worker | undefined
  readonly #inFlight = new Set<number>()
  /** Buffers the worker handed back. */
  readonly #spare: ArrayBuffer[] = []
  #buffer = new Uint8Array(0)
  #ops: WriteOp[] = []
  #used = 0
  #nextId = 0
  #failure: Error | undefined
  #waiters: (() => void)[] = []

  /** Queues an operation other than a file's (see `reserve`). */
  async add(op: Exclude<WriteOp, { kind: 'file' }>): Promise<void> {
    this.#check()
    this.#ops.push(op)
    if (this.#ops.length >= BATCH_OPS) await this.#send()
  }

  /**
   * Room for a file of `size` bytes in the batch being filled (a batch of its own when it is
   * larger than a batch); its contents are then given with `append`, and the file with `file`.
   */
  async reserve(size: number): Promise<void> {
    this.#check()
    if (this.#buffer.length && this.#used + size > this.#buffer.length) await this.#send()
    if (!this.#buffer.length) this.#buffer = new Uint8Array(size > BATCH_BYTES ? new ArrayBuffer(size) : (this.#spare.pop() ?? new ArrayBuffer(BATCH_BYTES)))
  }

  /** Copies contents of the file being given into the batch; `reserve` made room for all of them. */
  append(chunk: Uint8Array): void {
    this.#buffer.set(chunk, this.#used)
    this.#used += chunk.length
  }

  /** The file whose contents (`length` bytes) were appended since `reserve`. */
  async file(op: FileOp, length: number): Promise<void> {
    this.#ops.push({ kind: 'file', ...op, offset: this.#used - length, length })
    if (this.#ops.length >= BATCH_OPS) await this.#send()
  }

  /** Sends what is batched and waits until everything given is done; fails with the first failure. */
  async flush(): Promise<void> {
    if (this.#ops.length) await this.#send()
    while (!this.#failure && this.#inFlight.size) await this.#wait()
    this.#check()
  }

  /** Stops the thread (a batch being carried out is left where it is). */
  async close(): Promise<void> {
    this.#failure ??= new Error('the tree writer was closed')
    this.#wake()
    await this.#worker?.terminate()
  }

  #check(): void {
    if (this.#failure) throw this.#failure
  }

  #wait(): Promise<void> {
    return new Promise<void>((resolve) => this.#waiters.push(resolve))
  }

  async #send(): Promise<void> {
    const worker = this.#start()
    while (this.#inFlight.size >= IN_FLIGHT) {
      await this.#wait()
      this.#check()
    }
    const data = this.#buffer.length ? (this.#buffer.buffer as ArrayBuffer) : new ArrayBuffer(0)
    const batch: WriteBatch = { id: this.#nextId++, data, ops: this.#ops }
    this.#inFlight.add(batch.id)
    worker.postMessage(batch, [data])
    this.#buffer = new Uint8Array(0)
    this.#ops = []
    this.#used = 0
  }

  #start(): Worker {
    if (this.#worker) return this.#worker
    const worker = scriptWorker(writeWorker)
    worker.on('message', ({ id, data, failure }: WriteAnswer) => {
      this.#inFlight.delete(id)
      if (data.byteLength === BATCH_BYTES) this.#spare.push(data)
      if (failure) this.#fail(Object.assign(new Error(failure.message), { code: failure.code, errno: failure.errno, syscall: failure.syscall, path: failure.path }))
      this.#wake()
    })
    worker.on('error', (error) => this.#fail(error))
    worker.on('exit', (code) => this.#fail(new Error(`the tree writing thread stopped (exit code ${code})`)))
    return (this.#worker = worker)
  }

  #fail(error: Error): void {
    this.#failure ??= error
    this.#wake()
  }

  #wake(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }
}
