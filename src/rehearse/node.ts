/**
 * One simulated Pi powering on: network boot attempts as its firmware loops them (firmware.ts's
 * BootLoop: a Pi 4/5 starts again from DHCP after a failed attempt, a Pi 3 does not), each the DHCP
 * phase then the TFTP phase (exactly the files its firmware asks for, in its order, from the prefix
 * it settles on, config.txt read as the firmware reads it), ending at the kernel hand-off; then
 * whatever later phases the caller adds (the root read over NFS: `LaterPhase`). A later phase's
 * failure is the booted kernel's, not the firmware's: it ends the node, no restart.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { NetbootModel } from '../recipe/types.ts'
import { initramfsFor, readConfigTxt, requestsAfterConfig } from './config-txt.ts'
import { lease, type DhcpPort, type SimulatedPi } from './dhcp-client.ts'
import { prefixLength } from './dhcp-wire.ts'
import { bootLoopOf, FIRMWARE, FIRST_REQUESTS, PREFIX_PROBE, type BootLoopSettings, type FirmwareRequest } from './firmware.ts'
import { tftpGet, type TftpResult } from './tftp-client.ts'

export interface NodeError {
  readonly phase: string
  readonly file?: string
  /** `timeout`, `not found`, `wrong bytes`, `no offer`… */
  readonly what: string
}

export interface Lease {
  readonly address: string
  readonly serverId: string
}

/** One network boot attempt of a node. */
export interface Attempt {
  /** Seconds after power-on it began. */
  readonly at: number
  /** What began it: power-on, a network retry (NET_BOOT_MAX_RETRIES) or BOOT_ORDER's RESTART. */
  readonly after: 'power-on' | 'retry' | 'restart'
  readonly seconds: number
  /** The phases it completed. */
  readonly completed: readonly string[]
  /** Bytes each phase of it received. */
  readonly bytes: Readonly<Record<string, number>>
  /** Why it failed (undefined: it reached the kernel hand-off). */
  readonly error: NodeError | undefined
}

export interface NodeResult {
  readonly mac: string
  readonly model: NetbootModel
  /** The address of the last attempt that got one. */
  readonly address: string | undefined
  /** The phases the last attempt completed, in order: `dhcp`, `tftp` (the kernel hand-off), then later phases. */
  readonly completed: readonly string[]
  /** Seconds each phase of the last attempt took (a failed phase: until it failed). */
  readonly seconds: Readonly<Record<string, number>>
  /** Bytes each phase received, over every attempt. */
  readonly bytes: Readonly<Record<string, number>>
  /** Per phase, over every attempt: seconds after power-on of its first start and of its last end. */
  readonly spans?: Readonly<Record<string, readonly [number, number]>>
  /** Seconds from power-on to the kernel hand-off, when reached. */
  readonly handoff: number | undefined
  readonly files: number
  /** The node's outcome: its last attempt's error, or a later phase's; undefined when it booted. */
  readonly error: NodeError | undefined
  /** Every attempt, in order (the last one the outcome). */
  readonly attempts?: readonly Attempt[]
  /** Every distinct lease its attempts took: all are given back, and counted for duplicates. */
  readonly leases: readonly Lease[]
  /** The successful attempt's slowest file, in seconds, and its firmware's limit for one file. */
  readonly slowestFile?: { readonly file: string; readonly seconds: number; readonly limit: number }
  /** Files of the successful attempt that timed out once and were had when asked again (a Pi 3/4 asks again). */
  readonly retriedFiles?: number
}

/** What a later phase gets: the node, where it is, and the small files it fetched (cmdline.txt). */
export interface PhaseInput {
  readonly pi: SimulatedPi
  readonly address: string
  readonly cmdline: string
  readonly signal: AbortSignal
}

/** A phase after the kernel hand-off (the root's read set over NFS): the seam later phases plug into. */
export interface LaterPhase {
  readonly name: string
  run(input: PhaseInput): Promise<{ readonly bytes: number; readonly error?: { readonly file?: string; readonly what: string } }>
}

export interface BootContext {
  readonly port: DhcpPort
  readonly signal: AbortSignal
  /** Gives the node its address on the simulator's interface, once DHCP gave it one. */
  claimAddress(address: string, prefix: number): Promise<void>
  /**
   * The bytes of the published file at `path` (relative to the node's TFTP root): null when the
   * publication has no such file, undefined when it cannot be told here.
   */
  expected(pi: SimulatedPi, path: string): Buffer | null | undefined
  readonly later?: readonly LaterPhase[]
  /** The EEPROM's boot-loop settings for the Pi 4/5 nodes (NET_BOOT_MAX_RETRIES…); firmware defaults otherwise. */
  readonly bootLoop?: BootLoopSettings
}

/** What one attempt found; phase times in seconds after the node's power-on. */
export interface AttemptOutcome {
  readonly completed: readonly string[]
  readonly seconds: Readonly<Record<string, number>>
  readonly bytes: Readonly<Record<string, number>>
  readonly spans: Readonly<Record<string, readonly [number, number]>>
  readonly handoff: number | undefined
  readonly files: number
  readonly error: NodeError | undefined
  readonly lease: Lease | undefined
  readonly slowestFile?: NodeResult['slowestFile']
  readonly retriedFiles: number
}

/** One attempt, from power-on (`powerOn`, performance.now() time) or a restart. */
export type AttemptFn = (pi: SimulatedPi, ctx: BootContext, powerOn: number) => Promise<AttemptOutcome>

class Failed extends Error {
  readonly detail: NodeError
  constructor(detail: NodeError) {
    super(detail.what)
    this.detail = detail
  }
}

/** A node from power-on to its kernel hand-off (and later phases), through as many attempts as its firmware makes before the storm's end. */
export async function bootNode(pi: SimulatedPi, ctx: BootContext, attempt: AttemptFn = bootAttempt): Promise<NodeResult> {
  const loop = bootLoopOf(FIRMWARE[pi.model].family, ctx.bootLoop)
  const powerOn = performance.now()
  const attempts: Attempt[] = []
  const leases = new Map<string, Lease>()
  const bytes: Record<string, number> = {}
  const spans: Record<string, [number, number]> = {}
  let address: string | undefined
  let retries = 0
  let after: Attempt['after'] = 'power-on'
  for (;;) {
    const at = since(powerOn)
    const outcome = await attempt(pi, ctx, powerOn)
    attempts.push({ at: round(at), after, seconds: round(since(powerOn) - at), completed: outcome.completed, bytes: outcome.bytes, error: outcome.error })
    if (outcome.lease) {
      leases.set(outcome.lease.address, outcome.lease)
      address = outcome.lease.address
    }
    for (const [phase, n] of Object.entries(outcome.bytes)) bytes[phase] = (bytes[phase] ?? 0) + n
    for (const [phase, [from, to]] of Object.entries(outcome.spans)) spans[phase] = [Math.min(spans[phase]?.[0] ?? from, from), Math.max(spans[phase]?.[1] ?? to, to)]
    const { lease: _l, spans: _s, bytes: _b, ...last } = outcome
    const result = (): NodeResult => ({ mac: pi.mac, model: pi.model, address, ...last, bytes, spans, attempts, leases: [...leases.values()] })
    const firmwareFailed = outcome.error !== undefined && outcome.handoff === undefined
    if (!firmwareFailed || loop.afterFailure === 'stop' || ctx.signal.aborted) return result()
    const retry = loop.netRetries < 0 || retries < loop.netRetries
    retries = retry ? retries + 1 : 0
    after = retry ? 'retry' : 'restart'
    await sleep(retry ? loop.retryDelayMs : loop.restartMs, undefined, { signal: ctx.signal }).catch(() => {})
    if (ctx.signal.aborted) return result()
  }
}

/** One network boot attempt: DHCP, then every file to the kernel hand-off, then the later phases. */
export async function bootAttempt(pi: SimulatedPi, ctx: BootContext, powerOn: number): Promise<AttemptOutcome> {
  const seconds: Record<string, number> = {}
  const bytes: Record<string, number> = {}
  const spans: Record<string, [number, number]> = {}
  const completed: string[] = []
  let phaseStart = performance.now()
  const close = (phase: string) => {
    const now = performance.now()
    seconds[phase] = round((now - phaseStart) / 1000)
    spans[phase] = [round((phaseStart - powerOn) / 1000), round((now - powerOn) / 1000)]
    phaseStart = now
  }
  const outcome = (error: NodeError | undefined, extra: Partial<AttemptOutcome> = {}): AttemptOutcome => ({
    completed, seconds, bytes, spans, handoff: undefined, files: 0, error, lease: undefined, retriedFiles: 0, ...extra,
  })
  const leased = await lease(ctx.port, pi, ctx.signal)
  close('dhcp')
  if (!leased.ok) return outcome({ phase: 'dhcp', what: leased.reason })
  completed.push('dhcp')
  const held = { address: leased.address, serverId: leased.serverId }
  await ctx.claimAddress(leased.address, prefixLength(leased.netmask))
  const fetcher = new Fetcher(pi, leased.tftpServer, leased.address, ctx)
  const fetched = () => ({ lease: held, files: fetcher.files, retriedFiles: fetcher.retried })
  let cmdline = ''
  try {
    cmdline = await fetcher.boot()
  } catch (error) {
    close('tftp')
    bytes.tftp = fetcher.bytes
    if (!(error instanceof Failed)) throw error
    return outcome(error.detail, fetched())
  }
  close('tftp')
  bytes.tftp = fetcher.bytes
  completed.push('tftp')
  const handoff = round(since(powerOn))
  const tftp = FIRMWARE[pi.model].tftp
  const slowestFile = { file: fetcher.slowest.file, seconds: round(fetcher.slowest.ms / 1000), limit: tftp.fileTimeoutMs / 1000 }
  for (const phase of ctx.later ?? []) {
    const done = await phase.run({ pi, address: leased.address, cmdline, signal: ctx.signal })
    close(phase.name)
    bytes[phase.name] = done.bytes
    if (done.error) return outcome({ phase: phase.name, ...done.error }, { ...fetched(), handoff, slowestFile })
    completed.push(phase.name)
  }
  return outcome(undefined, { ...fetched(), handoff, slowestFile })
}

/** The TFTP phase of one node. */
class Fetcher {
  bytes = 0
  files = 0
  /** Files that timed out once and came when asked again. */
  retried = 0
  /** The slowest file had, by the fetch that had it. */
  slowest = { file: '', ms: 0 }
  #prefix = ''

  readonly pi: SimulatedPi
  readonly server: string
  readonly address: string
  readonly ctx: BootContext

  constructor(pi: SimulatedPi, server: string, address: string, ctx: BootContext) {
    this.pi = pi
    this.server = server
    this.address = address
    this.ctx = ctx
  }

  /** Every file to the kernel hand-off; returns cmdline.txt's text. */
  async boot(): Promise<string> {
    const family = FIRMWARE[this.pi.model].family
    const first = FIRST_REQUESTS[family]
    for (const request of first.filter((r) => r.root)) await this.get(request, '')
    // The serial prefix: kept when the firmware's first file is there (TFTP_PREFIX 0, the default).
    const probe = await this.fetch(`${this.pi.serial}/${PREFIX_PROBE[family]}`, false)
    this.#prefix = probe.status === 'ok' ? `${this.pi.serial}/` : ''
    const config = new Map<string, string>()
    for (const request of first.filter((r) => !r.root)) {
      const data = await this.get(request, this.#prefix, request.name === 'config.txt')
      if (request.name === 'config.txt' && data) config.set('config.txt', data.toString('latin1'))
    }
    const included = new Map<string, string>()
    let read = readConfigTxt(config.get('config.txt') ?? '', this.pi.model, included)
    while (read.includes.length) {
      for (const name of read.includes) included.set(name, (await this.get({ name, optional: true }, this.#prefix, true))?.toString('latin1') ?? '')
      read = readConfigTxt(config.get('config.txt') ?? '', this.pi.model, included)
    }
    let cmdline = ''
    for (const request of requestsAfterConfig(read)) {
      const data = await this.get(request, this.#prefix, request.name.endsWith(read.cmdline))
      if (request.name.endsWith(read.cmdline)) cmdline = data?.toString('latin1') ?? ''
    }
    const kernel = await this.firstOf(read.kernels.map((name) => `${read.osPrefix}${name}`))
    const initramfs = read.initramfs === 'from-kernel' ? { name: initramfsFor(kernel.slice(read.osPrefix.length)), optional: true } : read.initramfs
    if (initramfs) await this.get({ name: `${read.osPrefix}${initramfs.name}`, optional: initramfs.optional }, this.#prefix)
    return cmdline
  }

  /** The first kernel name that is there (the Pi 5: kernel_2712.img, else kernel8.img). */
  async firstOf(names: readonly string[]): Promise<string> {
    for (const [index, name] of names.entries()) {
      const data = await this.get({ name, optional: index < names.length - 1 }, this.#prefix)
      if (data !== undefined) return name
    }
    throw new Failed({ phase: 'tftp', file: names.at(-1), what: 'not found' })
  }

  /** One request, retried once after a timeout where the model does; undefined when not found. */
  async get(request: FirmwareRequest, prefix: string, keep = false): Promise<Buffer | undefined> {
    const path = `${request.root ? '' : prefix}${request.name}`
    const tftp = FIRMWARE[this.pi.model].tftp
    const expected = this.ctx.expected(this.pi, path)
    let got = await this.fetch(path, keep, expected ?? undefined)
    if (got.status === 'timeout' && tftp.retryTimedOutFile) {
      got = await this.fetch(path, keep, expected ?? undefined)
      if (got.status === 'ok') this.retried += 1
    }
    if (got.status === 'timeout') throw new Failed({ phase: 'tftp', file: path, what: `timeout (${tftp.fileTimeoutMs / 1000} s, ${got.bytes} bytes in)` })
    if (got.status === 'error') throw new Failed({ phase: 'tftp', file: path, what: got.message })
    if (got.status === 'not-found') {
      if (expected) throw new Failed({ phase: 'tftp', file: path, what: 'not found, yet published' })
      if (!request.optional) throw new Failed({ phase: 'tftp', file: path, what: 'not found' })
      return undefined
    }
    if (expected === null) throw new Failed({ phase: 'tftp', file: path, what: 'served, yet not published' })
    if (got.matches === false) throw new Failed({ phase: 'tftp', file: path, what: 'wrong bytes (differs from the published file)' })
    if (got.ms >= this.slowest.ms) this.slowest = { file: path, ms: got.ms }
    return got.data ?? Buffer.alloc(0)
  }

  async fetch(path: string, keep: boolean, expected?: Buffer): Promise<TftpResult> {
    const tftp = FIRMWARE[this.pi.model].tftp
    const got = await tftpGet({ server: this.server, file: path, localAddress: this.address, blksize: tftp.blksize, fileTimeoutMs: tftp.fileTimeoutMs, retransmitMs: tftp.retransmitMs, keep, expected, signal: this.ctx.signal })
    this.files += 1
    if (got.status === 'ok' || got.status === 'timeout' || got.status === 'error') this.bytes += got.bytes
    return got
  }
}

function since(start: number): number {
  return (performance.now() - start) / 1000
}

function round(value: number): number {
  return Math.round(value * 100) / 100
}
