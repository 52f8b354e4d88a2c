/**
 * Hashes files in a small pool of worker threads (hash-worker.ts), so that the contents of a tree
 * are hashed on every core while the main thread walks it (and, in `pibake verify`, reads the
 * stored snapshot). Files are sent in batches, a few files or a few MiB each, two batches in
 * flight per worker: a worker never waits for the main thread, and one big file does not leave the
 * other workers idle at the end.
 */
import { availableParallelism } from 'node:os'
import type { Worker } from 'node:worker_threads'
import { scriptWorker } from '../system/script-worker.ts'
import { hashWorker } from './hash-worker.ts'

export interface HashBatch {
  readonly id: number
  readonly paths: readonly string[]
}

/** A failed read, as the worker saw it (an Error does not cross threads with its code). */
export interface HashFailure {
  readonly message: string
  readonly code?: string | undefined
  readonly errno?: number | undefined
  readonly syscall?: string | undefined
  readonly path: string
}

export interface HashAnswer {
  readonly id: number
  readonly results: readonly (string | HashFailure)[]
}

interface Job {
  readonly path: string
  readonly size: number
  resolve(sha256: string): void
  reject(error: unknown): void
}

interface Member {
  readonly worker: Worker
  readonly batches: Map<number, Job[]>
}

const BATCH_FILES = 64
const BATCH_BYTES = 4 * 1024 * 1024
const IN_FLIGHT = 2

export class HashPool {
  readonly #size: number
  readonly #members: Member[] = []
  readonly #queued: Job[] = []
  #waiters: { below: number; resolve: () => void }[] = []
  #nextId = 0
  #outstanding = 0
  #closed: { reason: unknown } | undefined

  /** `size` workers, started on the first file: by default one per core, at most four. */
  constructor(size = Math.min(4, Math.max(1, availableParallelism()))) {
    this.#size = size
  }

  /** The SHA-256 of the file at `path` (`size`, as `lstat` saw it, only sizes the batches). */
  hash(path: string, size: number): Promise<string> {
    if (this.#closed) return Promise.reject(this.#closed.reason)
    const done = new Promise<string>((resolve, reject) => this.#queued.push({ path, size, resolve, reject }))
    this.#outstanding++
    this.#start()
    this.#dispatch()
    return done
  }

  /** Files given and not hashed yet. */
  get backlog(): number {
    return this.#outstanding
  }

  /** Resolves once the backlog is below `below` (at once when it is). */
  backlogBelow(below: number): Promise<void> {
    if (this.#outstanding < below || this.#closed) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ below, resolve }))
  }

  /** Stops the workers; every file not hashed yet fails with `reason`. */
  async close(reason: unknown = new Error('the hash pool was closed')): Promise<void> {
    this.#fail(reason)
    await Promise.all(this.#members.map((m) => m.worker.terminate()))
  }

  #start(): void {
    while (this.#members.length < this.#size) {
      const member: Member = { worker: scriptWorker(hashWorker), batches: new Map() }
      member.worker.on('message', (answer: HashAnswer) => this.#answered(member, answer))
      member.worker.on('error', (error) => this.#fail(error))
      member.worker.on('exit', (code) => this.#fail(new Error(`a file hashing thread stopped (exit code ${code})`)))
      this.#members.push(member)
    }
  }

  /** Gives each worker with room a batch of the queued files, in the order they were given. */
  #dispatch(): void {
    for (const member of this.#members) {
      while (member.batches.size < IN_FLIGHT && this.#queued.length) {
        let count = 0
        let bytes = 0
        while (count < this.#queued.length && count < BATCH_FILES && (count === 0 || bytes + this.#queued[count]!.size <= BATCH_BYTES)) bytes += this.#queued[count++]!.size
        const jobs = this.#queued.splice(0, count)
        const batch: HashBatch = { id: this.#nextId++, paths: jobs.map((j) => j.path) }
        member.batches.set(batch.id, jobs)
        member.worker.postMessage(batch)
      }
    }
  }

  #answered(member: Member, { id, results }: HashAnswer): void {
    const jobs = member.batches.get(id)
    if (!jobs) return
    member.batches.delete(id)
    this.#outstanding -= jobs.length
    this.#dispatch()
    jobs.forEach((job, i) => {
      const result = results[i]!
      if (typeof result === 'string') job.resolve(result)
      else job.reject(Object.assign(new Error(result.message), { code: result.code, errno: result.errno, syscall: result.syscall, path: result.path }))
    })
    this.#wake()
  }

  #fail(reason: unknown): void {
    if (this.#closed) return
    this.#closed = { reason }
    const jobs = [...this.#queued.splice(0), ...this.#members.flatMap((m) => [...m.batches.values()].flat())]
    for (const member of this.#members) member.batches.clear()
    this.#outstanding = 0
    for (const job of jobs) job.reject(reason)
    this.#wake()
  }

  #wake(): void {
    const ready = this.#waiters.filter((w) => this.#outstanding < w.below || this.#closed)
    this.#waiters = this.#waiters.filter((w) => !ready.includes(w))
    for (const waiter of ready) waiter.resolve()
  }
}
