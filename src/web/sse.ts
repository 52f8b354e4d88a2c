/**
 * Server-sent event streams with bounds. A client that does not read must not make the server hold
 * a build's whole event stream: every write is awaited (the socket's backpressure reaches the
 * writer), what waits to be written is capped in bytes per client, a write the client does not take
 * within `writeMs` drops it, and so does a queue over `queuedBytes`. At most `total` streams are open
 * at once, of which at most `files` follow a log file (each holds a file open and polls it); beyond
 * that the server answers 503.
 */
import type { Context } from 'hono'
import { streamSSE, type SSEMessage, type SSEStreamingApi } from 'hono/streaming'

export interface StreamLimits {
  readonly total: number
  readonly files: number
  readonly queuedBytes: number
  readonly writeMs: number
}

export const STREAM_LIMITS: StreamLimits = { total: 16, files: 8, queuedBytes: 1024 * 1024, writeMs: 30_000 }

/** One client's stream, as the route's body sees it. */
export interface EventSender {
  /** Queues a message without waiting (for callbacks that cannot wait); past the cap the client is dropped. */
  push(message: SSEMessage): void
  /** Writes a message after everything queued before it, once the client took it. */
  send(message: SSEMessage): Promise<void>
  /** Aborted when the client went away or was dropped. */
  readonly signal: AbortSignal
  sleep(ms: number): Promise<void>
}

export class EventStreams {
  #open = 0
  #files = 0

  readonly limits: StreamLimits

  constructor(limits: StreamLimits = STREAM_LIMITS) {
    this.limits = limits
  }

  /** How many streams are open now. */
  get open(): number {
    return this.#open
  }

  /** Streams `body` to the client, or answers 503 when the streams of its kind are all taken. */
  stream(c: Context, kind: 'job' | 'file', body: (out: EventSender) => Promise<void>): Response {
    const full = this.#open >= this.limits.total ? `${this.#open} event streams are open` : kind === 'file' && this.#files >= this.limits.files ? `${this.#files} streams follow build logs` : undefined
    if (full) {
      c.header('Retry-After', '10')
      return c.text(`refused: ${full}, the most this server keeps; close a page that follows a build`, 503)
    }
    this.#open++
    if (kind === 'file') this.#files++
    return streamSSE(c, async (stream) => {
      const out = new Sender(stream, this.limits, () => dropConnection(c))
      try {
        await body(out)
      } finally {
        out.close()
        this.#open--
        if (kind === 'file') this.#files--
      }
    })
  }
}

class Sender implements EventSender {
  readonly #stop = new AbortController()
  #queued = 0
  #tail: Promise<void> = Promise.resolve()

  readonly stream: SSEStreamingApi
  readonly limits: StreamLimits
  readonly drop: () => void

  constructor(stream: SSEStreamingApi, limits: StreamLimits, drop: () => void) {
    this.stream = stream
    this.limits = limits
    this.drop = drop
    stream.onAbort(() => this.#stop.abort())
  }

  get signal(): AbortSignal {
    return this.#stop.signal
  }

  push(message: SSEMessage): void {
    void this.#enqueue(message)
  }

  async send(message: SSEMessage): Promise<void> {
    await this.#enqueue(message)
  }

  sleep(ms: number): Promise<void> {
    return new Promise((done) => {
      const timer = setTimeout(done, ms)
      this.signal.addEventListener('abort', () => {
        clearTimeout(timer)
        done()
      }, { once: true })
    })
  }

  close(): void {
    this.#stop.abort()
  }

  #enqueue(message: SSEMessage): Promise<void> {
    if (this.signal.aborted) return this.#tail
    const bytes = Buffer.byteLength(String(message.data)) + 32
    if (this.#queued + bytes > this.limits.queuedBytes) {
      this.#dropClient()
      return this.#tail
    }
    this.#queued += bytes
    this.#tail = this.#tail.then(async () => {
      this.#queued -= bytes
      if (!this.signal.aborted) await this.#write(message)
    })
    return this.#tail
  }

  async #write(message: SSEMessage): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((done) => (timer = setTimeout(() => done('late'), this.limits.writeMs)))
    const result = await Promise.race([this.stream.writeSSE(message), late]).finally(() => clearTimeout(timer))
    if (result === 'late') this.#dropClient()
  }

  /** A client too slow to keep up: its connection is closed, and what was queued for it let go. */
  #dropClient(): void {
    if (this.signal.aborted) return
    this.#stop.abort()
    this.stream.abort()
    this.drop()
  }
}

/** Closes the client's connection (Node's server gives the response as `c.env.outgoing`). */
function dropConnection(c: Context): void {
  const outgoing = (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing
  outgoing?.destroy()
}
