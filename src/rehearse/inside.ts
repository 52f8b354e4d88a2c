/**
 * Runs a storm in a network namespace: the worker (worker.ts) started there with `ip netns exec`,
 * its report read back. The namespace is the caller's (a test's, the bench's, or the one
 * `pibake rehearse` makes on the boot LAN).
 */
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import { exec } from '../system/exec.ts'
import type { StormReport } from './storm.ts'
import type { WorkerSpec } from './worker.ts'

export type { WorkerSpec } from './worker.ts'

const WORKER = join(import.meta.dirname, 'worker.ts')

export async function stormInNamespace(ns: string, spec: WorkerSpec, signal?: AbortSignal): Promise<StormReport> {
  const argv = ['ip', 'netns', 'exec', ns, process.execPath, WORKER]
  const { stdout } = await exec(argv, { input: JSON.stringify(spec), signal, hint: 'the rehearsal\'s worker failed: its error is above' })
  try {
    return JSON.parse(stdout) as StormReport
  } catch {
    throw new PibakeError('the rehearsal\'s worker printed no report', `its output ended: ${stdout.slice(-200)}`)
  }
}
