/**
 * What the simulator says of one node and what a node's boot is given: its attempts, its outcome,
 * the later phases it runs after the kernel hand-off (node.ts runs them).
 */
import type { NetbootModel } from '../recipe/types.ts'
import type { DhcpPort, SimulatedPi } from './dhcp-client.ts'
import type { BootLoopSettings } from './firmware.ts'

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
