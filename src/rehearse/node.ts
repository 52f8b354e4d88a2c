/**
 * One simulated Pi powering on: network boot attempts as its firmware loops them (firmware.ts's
 * BootLoop: a Pi 4/5 starts again from DHCP after a failed attempt, a Pi 3 does not), each the DHCP
 * phase then the TFTP phase (exactly the files its firmware asks for, in its order, from the prefix
 * it settles on, config.txt read as the firmware reads it), ending at the kernel hand-off; then
 * whatever later phases the caller adds (the root read over NFS: `LaterPhase`, node-result.ts). A
 * later phase's failure is the booted kernel's, not the firmware's: it ends the node, no restart.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { initramfsFor, readConfigTxt, requestsAfterConfig } from './config-txt.ts'
import { lease, type SimulatedPi } from './dhcp-client.ts'
import { prefixLength } from './dhcp-wire.ts'
import { bootLoopOf, FIRMWARE, FIRST_REQUESTS, PREFIX_PROBE, type FirmwareRequest } from './firmware.ts'
import { tftpGet, type TftpResult } from './tftp-client.ts'
import type { Attempt, AttemptFn, AttemptOutcome, BootContext, Lease, NodeError, NodeResult } from './node-result.ts'

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
