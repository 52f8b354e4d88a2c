/**
 * The storm's own process, started inside the network namespace the simulated nodes live in (a
 * process's sockets belong to the namespace it runs in): reads a WorkerSpec as JSON on stdin, runs
 * the storm, writes the StormReport as JSON on stdout. Started by `inNamespace()`, never by hand.
 */
import { text } from 'node:stream/consumers'
import { addAddress } from '../system/ip.ts'
import { DhcpPort, type SimulatedPi } from './dhcp-client.ts'
import { expectedFromTree } from './published.ts'
import { runStorm } from './storm.ts'

export interface WorkerSpec {
  readonly nodes: readonly SimulatedPi[]
  readonly spreadMs: number
  readonly deadlineMs: number
  /** The interface the nodes' addresses go on (in the namespace). */
  readonly device: string
  /** The published TFTP tree, when it can be read here: every file is compared with it. */
  readonly tftpRoot?: string
  readonly release: boolean
}

const spec = JSON.parse(await text(process.stdin)) as WorkerSpec
const expected = spec.tftpRoot ? expectedFromTree(spec.tftpRoot, spec.nodes) : () => undefined
const port = await DhcpPort.open()
try {
  const report = await runStorm({
    nodes: spec.nodes,
    spreadMs: spec.spreadMs,
    deadlineMs: spec.deadlineMs,
    port,
    claimAddress: (address, prefix) => addAddress(spec.device, address, prefix),
    expected,
    release: spec.release,
  })
  process.stdout.write(`${JSON.stringify(report)}\n`)
} finally {
  port.close()
}
