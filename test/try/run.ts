/**
 * `pibake try` run as a person runs it, for the try tests: this checkout's command line in a child
 * process of its own process group (as a terminal's foreground job: Ctrl-C signals the whole group),
 * its output collected live, and, once it has ended, what it may have left on the host: network
 * namespaces of its PID, its /tmp folder, any process of its group.
 */
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { exec } from '../../src/system/exec.ts'

const CLI = join(import.meta.dirname, '../../src/cli.ts')

export interface TryRun {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** Namespaces, folders and processes of this run still there after it ended. */
  readonly left: readonly string[]
}

export interface TryChild {
  readonly pid: number
  stdout(): string
  stderr(): string
  /** Writes to its standard input (the console). */
  write(text: string): void
  /** Closes its standard output and error, as a terminal that went away. */
  closeOutput(): void
}

/** Runs `pibake try …`; `watch` (when given) sees it running and may write to it or signal its group. */
export function pibakeTry(args: readonly string[], watch?: (child: TryChild) => Promise<void>): Promise<TryRun> {
  const tmpBefore = new Set(tryFolders())
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=pibake-source', CLI, 'try', ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('latin1')))
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      process.stderr.write(chunk)
    })
    child.stdin.on('error', () => {})
    child.on('error', reject)
    const pid = child.pid
    if (pid === undefined) return reject(new Error('pibake try did not start'))
    // The test stopped (the runner's time limit): stop try too, as its own group escapes the runner's.
    const forward = () => {
      signalGroup(pid, 'SIGTERM')
      child.once('close', () => process.exit(143))
    }
    process.once('SIGTERM', forward)
    child.on('close', (code, signal) => {
      process.off('SIGTERM', forward)
      void (async () => {
        const left = [...(await groupLeft(pid)), ...(await namespacesOf(pid)), ...tryFolders().filter((dir) => !tmpBefore.has(dir)).map((dir) => `folder: ${dir}`)]
        resolve({ code, signal, stdout, stderr, left })
      })().catch(reject)
    })
    // A watch that fails (what it waited for never came) stops try, then fails the run.
    let closed = false
    child.once('close', () => (closed = true))
    const stopThen = (error: unknown) => {
      if (closed) return reject(error)
      signalGroup(pid, 'SIGTERM')
      child.once('close', () => reject(error))
    }
    if (watch) void watch({ pid, stdout: () => stdout, stderr: () => stderr, write: (text) => child.stdin.write(text), closeOutput: () => { child.stdout.destroy(); child.stderr.destroy() } }).catch(stopThen)
  })
}

/** Signals a process group (a terminal signals its foreground job so); one already gone is fine. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

/** Waits until `seen()` matches, or fails after `timeoutS` saying what it waited for and what it saw. */
export async function waitForOutput(seen: () => string, pattern: RegExp, timeoutS: number): Promise<void> {
  for (let waited = 0; !pattern.test(seen()); waited += 0.5) {
    if (waited > timeoutS) throw new Error(`${pattern} did not appear within ${timeoutS} s; the end of what was seen:\n${seen().slice(-2000)}`)
    await sleep(500)
  }
}

function tryFolders(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith('pibake-try-')).map((name) => join(tmpdir(), name))
}

/** Processes still in the run's group 30 s after it ended (QEMU, dnsmasq, ganesha, rpcbind). */
async function groupLeft(pgid: number): Promise<string[]> {
  for (let waited = 0; waited < 30_000; waited += 100) {
    try {
      process.kill(-pgid, 0)
    } catch {
      return []
    }
    await sleep(100)
  }
  const { stdout } = await exec(['ps', '-o', 'pid=,args=', '-g', String(pgid)], { okCodes: [1] })
  return stdout.split('\n').filter(Boolean).map((line) => `process: ${line.trim()}`)
}

async function namespacesOf(pid: number): Promise<string[]> {
  const { stdout } = await exec(['ip', 'netns', 'list'])
  return stdout.split('\n').map((line) => line.split(' ')[0] ?? '').filter((name) => name.startsWith(`pibake-try${pid}-`)).map((name) => `namespace: ${name}`)
}
