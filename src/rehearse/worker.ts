/**
 * One process of a storm, started inside the network namespace the simulated nodes live in (a
 * process's sockets belong to the namespace it runs in) by `stormInNamespace()`, never by hand.
 * A storm of a thousand nodes is more than one event loop can drive (every TFTP block is a packet
 * in and an acknowledgement out), so its nodes are shared among several of these, one per core.
 *
 * On stdin, one line each: the WorkerSpec as JSON, then `go <Date.now() start>` once every process
 * is ready. On stdout: `ready` when its port is open and the published files are read, then the
 * StormReport of its nodes as JSON.
 */
import { createInterface } from 'node:readline'
import { AddressBatch } from '../system/ip.ts'
import { DhcpPort, type SimulatedPi } from './dhcp-client.ts'
import type { BootLoopSettings } from './firmware.ts'
import { withoutReservedPorts } from './nfs-client.ts'
import { expectedFromTree } from './published.ts'
import { rootPhase, type RootPhaseOptions } from './root-phase.ts'
import { runStorm } from './storm.ts'

export interface WorkerSpec {
  readonly nodes: readonly SimulatedPi[]
  /** When each node powers on, in milliseconds after the start. */
  readonly powerOnMs: readonly number[]
  readonly deadlineMs: number
  /** The interface the nodes' addresses go on (in the namespace). */
  readonly device: string
  /** The published TFTP tree, when it can be read here: every file is compared with it. */
  readonly tftpRoot?: string
  readonly release: boolean
  /** The EEPROM's boot-loop settings of the Pi 4/5 nodes. */
  readonly bootLoop?: BootLoopSettings
  /** The root phase's read sets: each node reads its build's over NFS after the hand-off (root-phase.ts). */
  readonly root?: RootPhaseOptions
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const next = async (): Promise<string> => {
  const line = await lines.next()
  if (line.done) throw new Error('the storm\'s parent closed its input early')
  return line.value
}
const spec = JSON.parse(await next()) as WorkerSpec
// The root phase's NFS calls block a thread of libuv's pool each (nfs-client.ts): one per node, set
// before the pool's first use starts it.
if (spec.root) process.env.UV_THREADPOOL_SIZE = String(Math.min(1024, spec.nodes.length + 4))
const expected = spec.tftpRoot ? expectedFromTree(spec.tftpRoot, spec.nodes) : () => undefined
const port = await DhcpPort.open()
const addresses = AddressBatch.open(spec.device)
// Port 68 is bound: the root phase's NFS connections may now leave from ordinary ports (nfs-client.ts).
if (spec.root?.reservedPorts === false) withoutReservedPorts()
try {
  process.stdout.write('ready\n')
  const go = /^go (\d+)$/.exec(await next())
  if (!go) throw new Error('the storm\'s parent sent no start time')
  const report = await runStorm({
    nodes: spec.nodes,
    powerOnMs: spec.powerOnMs,
    startAt: Number(go[1]),
    deadlineMs: spec.deadlineMs,
    port,
    claimAddress: (address, prefix) => addresses.add(address, prefix),
    ...(spec.root ? { later: [rootPhase(spec.root)] } : {}),
    expected,
    release: spec.release,
    ...(spec.bootLoop ? { bootLoop: spec.bootLoop } : {}),
  })
  process.stdout.write(`${JSON.stringify(report)}\n`)
} finally {
  port.close()
  await addresses.close()
  lines.return?.()
}
