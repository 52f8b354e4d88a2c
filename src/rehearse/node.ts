/**
 * One simulated Pi powering on: the DHCP phase, then the TFTP phase (exactly the files its
 * firmware asks for, in its order, from the prefix it settles on, config.txt read as the firmware
 * reads it), ending at the kernel hand-off; then whatever later phases the caller adds (the root
 * read over NFS is such a phase: `LaterPhase` is its seam, not implemented here yet).
 */
import type { NetbootModel } from '../recipe/types.ts'
import { initramfsFor, readConfigTxt, requestsAfterConfig } from './config-txt.ts'
import { lease, type DhcpPort, type SimulatedPi } from './dhcp-client.ts'
import { prefixLength } from './dhcp-wire.ts'
import { FIRMWARE, FIRST_REQUESTS, PREFIX_PROBE, type FirmwareRequest } from './firmware.ts'
import { tftpGet, type TftpResult } from './tftp-client.ts'

export interface NodeError {
  readonly phase: string
  readonly file?: string
  /** `timeout`, `not found`, `wrong bytes`, `no offer`… */
  readonly what: string
}

export interface NodeResult {
  readonly mac: string
  readonly model: NetbootModel
  readonly address: string | undefined
  /** The phases completed, in order: `dhcp`, `tftp` (the kernel hand-off), then later phases. */
  readonly completed: readonly string[]
  /** Seconds each phase took (a failed phase: until it failed). */
  readonly seconds: Readonly<Record<string, number>>
  /** Bytes each phase received. */
  readonly bytes: Readonly<Record<string, number>>
  /** Seconds from power-on to the kernel hand-off, when reached. */
  readonly handoff: number | undefined
  readonly files: number
  readonly error: NodeError | undefined
  /** The lease to give back at the end. */
  readonly lease: { readonly address: string; readonly serverId: string } | undefined
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
}

class Failed extends Error {
  readonly detail: NodeError
  constructor(detail: NodeError) {
    super(detail.what)
    this.detail = detail
  }
}

export async function bootNode(pi: SimulatedPi, ctx: BootContext): Promise<NodeResult> {
  const started = performance.now()
  const seconds: Record<string, number> = {}
  const bytes: Record<string, number> = {}
  const completed: string[] = []
  let phaseStart = started
  const close = (phase: string) => {
    seconds[phase] = round((performance.now() - phaseStart) / 1000)
    phaseStart = performance.now()
  }
  const result = (error: NodeError | undefined, extra: Partial<NodeResult> = {}): NodeResult => ({
    mac: pi.mac, model: pi.model, address: undefined, completed, seconds, bytes, handoff: undefined, files: 0, error, lease: undefined, ...extra,
  })
  const leased = await lease(ctx.port, pi, ctx.signal)
  close('dhcp')
  if (!leased.ok) return result({ phase: 'dhcp', what: leased.reason })
  completed.push('dhcp')
  const held = { address: leased.address, serverId: leased.serverId }
  await ctx.claimAddress(leased.address, prefixLength(leased.netmask))
  const fetcher = new Fetcher(pi, leased.tftpServer, leased.address, ctx)
  let cmdline = ''
  try {
    cmdline = await fetcher.boot()
  } catch (error) {
    close('tftp')
    bytes.tftp = fetcher.bytes
    if (!(error instanceof Failed)) throw error
    return result(error.detail, { address: leased.address, files: fetcher.files, lease: held })
  }
  close('tftp')
  bytes.tftp = fetcher.bytes
  completed.push('tftp')
  const handoff = round((performance.now() - started) / 1000)
  for (const phase of ctx.later ?? []) {
    const outcome = await phase.run({ pi, address: leased.address, cmdline, signal: ctx.signal })
    close(phase.name)
    bytes[phase.name] = outcome.bytes
    if (outcome.error) return result({ phase: phase.name, ...outcome.error }, { address: leased.address, handoff, files: fetcher.files, lease: held })
    completed.push(phase.name)
  }
  return result(undefined, { address: leased.address, handoff, files: fetcher.files, lease: held })
}

/** The TFTP phase of one node. */
class Fetcher {
  bytes = 0
  files = 0
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
    if (got.status === 'timeout' && tftp.retryTimedOutFile) got = await this.fetch(path, keep, expected ?? undefined)
    if (got.status === 'timeout') throw new Failed({ phase: 'tftp', file: path, what: `timeout (${tftp.fileTimeoutMs / 1000} s, ${got.bytes} bytes in)` })
    if (got.status === 'error') throw new Failed({ phase: 'tftp', file: path, what: got.message })
    if (got.status === 'not-found') {
      if (expected) throw new Failed({ phase: 'tftp', file: path, what: 'not found, yet published' })
      if (!request.optional) throw new Failed({ phase: 'tftp', file: path, what: 'not found' })
      return undefined
    }
    if (expected === null) throw new Failed({ phase: 'tftp', file: path, what: 'served, yet not published' })
    if (got.matches === false) throw new Failed({ phase: 'tftp', file: path, what: 'wrong bytes (differs from the published file)' })
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

function round(value: number): number {
  return Math.round(value * 100) / 100
}
