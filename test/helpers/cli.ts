/**
 * `pibake` run as a person runs it: this checkout's command line in a child process, in a process
 * group of its own, so that a test can kill it with every program it runs (as systemd kills a unit,
 * and as a power loss does): a program left running would go on mounting or copying after the test
 * ran pibake clean.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const CLI = join(import.meta.dirname, '../../src/cli.ts')

export interface CliRun {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
  /** The `--json` events it printed, as they came. */
  readonly events: Record<string, unknown>[]
}

/** Runs a pibake command; `watch` (when given) gets the live event list and the child's PID, and may signal its group. */
export function pibake(args: readonly string[], watch?: (events: Record<string, unknown>[], pid: number) => Promise<void>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=pibake-source', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const events: Record<string, unknown>[] = []
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const lines = stdout.split('\n')
      stdout = lines.pop() ?? ''
      for (const line of lines) if (line.startsWith('{')) events.push(JSON.parse(line) as Record<string, unknown>)
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    // Resolved once the whole group is gone: a program killed inside a system call (a mount) ends
    // it first, and pibake clean must come after, as systemd waits for a unit's last process.
    child.on('close', (code, signal) => void groupGone(child.pid).then(() => resolve({ code, signal, stderr, events }), reject))
    if (watch && child.pid !== undefined) void watch(events, child.pid)
  })
}

async function groupGone(pgid: number | undefined): Promise<void> {
  if (pgid === undefined) return
  for (let waited = 0; waited < 30_000; waited += 20) {
    try {
      process.kill(-pgid, 0)
    } catch {
      return
    }
    await sleep(20)
  }
  throw new Error(`processes of group ${pgid} were still running 30 s after pibake ended`)
}
