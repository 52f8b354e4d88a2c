/** Stopping the processes pibake started (servers, QEMU): by PID, never by name. */
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

/** A process pibake started and stops. */
export interface Owned {
  readonly pid: number
  stop(): Promise<void>
}

/** Sends a signal; a process that has already exited is what stopping wants. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

/** Whether a process still runs (a zombie waiting for its parent to reap it does not). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** SIGTERM, SIGKILL after 3 s, and waits until the process is gone (10 s at most). */
export async function stopProcess(pid: number): Promise<void> {
  signal(pid, 'SIGTERM')
  for (let waited = 0; alive(pid); waited += 50) {
    if (waited === 3000) signal(pid, 'SIGKILL')
    if (waited > 10_000) throw new Error(`process ${pid} did not exit after SIGKILL`)
    await sleep(50)
  }
}
