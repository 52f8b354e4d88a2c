/**
 * Runs a storm in a network namespace: its nodes shared round-robin among worker processes
 * (worker.ts) started there with `ip netns exec`, one per core by default (one event loop cannot
 * drive a thousand lock-step TFTP transfers: measured, 80 nodes on one got 3–12 MB/s). Every
 * process reads the published files and opens its DHCP port first; then all are told one start
 * time, so that the nodes power on over `spreadMs` whichever process runs them, and their reports
 * are merged into one. The namespace is the caller's (a test's, the bench's, or the one
 * `pibake rehearse` makes on the boot LAN).
 */
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { PibakeError } from '../errors.ts'
import { execStream, type StreamedCommand } from '../system/exec.ts'
import type { SimulatedPi } from './dhcp-client.ts'
import type { BootLoopSettings } from './firmware.ts'
import { mergeReports, type StormReport } from './storm.ts'
import type { RootPhaseOptions } from './root-phase.ts'
import type { WorkerSpec } from './worker.ts'

export interface NamespaceStorm {
  readonly nodes: readonly SimulatedPi[]
  /** Nodes power on at even intervals within this many milliseconds. */
  readonly spreadMs: number
  readonly deadlineMs: number
  /** The interface the nodes' addresses go on (in the namespace). */
  readonly device: string
  /** The published TFTP tree, when it can be read here: every file is compared with it. */
  readonly tftpRoot?: string
  readonly release: boolean
  /** The EEPROM's boot-loop settings of the Pi 4/5 nodes (NET_BOOT_MAX_RETRIES…): firmware defaults otherwise. */
  readonly bootLoop?: BootLoopSettings
  /** The root phase's read sets (root-phase.ts): without them the storm ends at the kernel hand-off. */
  readonly root?: RootPhaseOptions
  /** Worker processes (default: one per core, at most one per node). */
  readonly workers?: number
}

const WORKER = join(import.meta.dirname, 'worker.ts')
/** How long the workers may take to get ready (read the published files, open their ports). */
const READY_MS = 120_000

export async function stormInNamespace(ns: string, storm: NamespaceStorm, signal?: AbortSignal): Promise<StormReport> {
  const count = Math.max(1, Math.min(storm.workers ?? availableParallelism(), storm.nodes.length))
  const at = (index: number) => (storm.nodes.length > 1 ? (storm.spreadMs * index) / (storm.nodes.length - 1) : 0)
  const specs: WorkerSpec[] = Array.from({ length: count }, (_, w) => {
    const mine = storm.nodes.map((_, index) => index).filter((index) => index % count === w)
    const { spreadMs: _s, workers: _w, ...rest } = storm
    return { ...rest, nodes: mine.map((index) => storm.nodes[index]!), powerOnMs: mine.map(at) }
  })
  const stop = new AbortController()
  const abort = AbortSignal.any([stop.signal, ...(signal ? [signal] : [])])
  const workers = specs.map((spec) => new Worker(ns, spec, abort))
  try {
    const ready = AbortSignal.any([abort, AbortSignal.timeout(READY_MS)])
    await Promise.all(workers.map((worker) => worker.line(ready, 'ready')))
    // A moment for the last "go" to reach its process: all start on the same clock.
    const startAt = Date.now() + 200
    for (const worker of workers) worker.go(startAt)
    const reports = await Promise.all(workers.map(async (worker) => worker.report(abort)))
    await Promise.all(workers.map((worker) => worker.process.done))
    return mergeReports(reports, storm.nodes.map((n) => n.mac))
  } catch (error) {
    stop.abort()
    // A worker that failed said why on its stderr: that error (with its tail) is the one to show.
    const failed = await Promise.all(workers.map((worker) => worker.process.done.then(() => undefined, (e: unknown) => e)))
    throw failed.find((e) => e !== undefined) ?? error
  }
}

/** One worker process and its line protocol. */
class Worker {
  readonly process: StreamedCommand
  readonly #lines: AsyncIterator<string>

  constructor(ns: string, spec: WorkerSpec, signal: AbortSignal) {
    this.process = execStream(['ip', 'netns', 'exec', ns, process.execPath, WORKER], { signal, hint: 'the rehearsal\'s worker failed: its error is above' })
    this.process.stdin.write(`${JSON.stringify(spec)}\n`)
    this.#lines = createInterface({ input: this.process.stdout })[Symbol.asyncIterator]()
  }

  async line(signal: AbortSignal, want?: string): Promise<string> {
    const next = await new Promise<IteratorResult<string>>((resolve, reject) => {
      const onAbort = () => reject(new PibakeError('the rehearsal\'s workers did not get ready in time', 'the machine may be too busy: try fewer nodes'))
      if (signal.aborted) return onAbort()
      signal.addEventListener('abort', onAbort, { once: true })
      this.#lines.next().then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
    })
    if (next.done) throw new PibakeError('a rehearsal worker ended without its report', 'its error is above')
    if (want !== undefined && next.value !== want) throw new PibakeError(`a rehearsal worker said "${next.value.slice(0, 200)}" where "${want}" was expected`)
    return next.value
  }

  go(startAt: number): void {
    this.process.stdin.end(`go ${startAt}\n`)
  }

  async report(signal: AbortSignal): Promise<StormReport> {
    const text = await this.line(signal)
    try {
      return JSON.parse(text) as StormReport
    } catch {
      throw new PibakeError('the rehearsal\'s worker printed no report', `its output ended: ${text.slice(-200)}`)
    }
  }
}
