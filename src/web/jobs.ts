/**
 * What the page starts and then watches: a build (or a move, which ends in one). A build runs as
 * `pibake build <recipe> --json` in a child process, so it is exactly the command line's build —
 * its lock, its log, its undo on SIGTERM — reads the recipe file as it is now, and cannot take the
 * server down with it; its `--json` events are what the job page shows as they come.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { SELF_CLI } from '../self.ts'
import type { BuildSummary } from '../pipeline/events.ts'
import { parseEvent, type LoggedEvent } from './runs.ts'
import { emptyTaskList, foldEvent, type TaskList } from './tasks.ts'

export interface Job {
  readonly id: string
  readonly title: string
  readonly started: string
  state: 'running' | 'done' | 'failed'
  /** What happened, for people, once it ended. */
  outcome?: string
  readonly tasks: TaskList
  /** Lines that were not events (the steps before a build, stderr of a failed command). */
  readonly notes: string[]
  /** The PID of its running child process, if any: stopped by it when the server stops. */
  child?: number
  readonly listeners: Set<(event: LoggedEvent | undefined) => void>
}

/** What a job's body gets: a way to run pibake's CLI with its events fed to the job, and to note lines. */
export interface JobContext {
  /** Runs `pibake <args…> --json`; resolves with the exit status, the summary event (if any), stdout lines that were not events, and stderr's end. */
  pibake(args: readonly string[]): Promise<PibakeRun>
  note(line: string): void
}

export interface PibakeRun {
  readonly code: number
  readonly summary: BuildSummary | undefined
  readonly stdout: string
  readonly stderr: string
}

const KEPT = 50

export class Jobs {
  readonly #jobs = new Map<string, Job>()

  get(id: string): Job | undefined {
    return this.#jobs.get(id)
  }

  list(): Job[] {
    return [...this.#jobs.values()].reverse()
  }

  /** Starts `body`; its resolved string is the outcome, a thrown error's message the failure. */
  start(title: string, body: (ctx: JobContext) => Promise<string>): Job {
    const job: Job = { id: randomBytes(6).toString('hex'), title, started: new Date().toISOString(), state: 'running', tasks: emptyTaskList(), notes: [], listeners: new Set() }
    this.#jobs.set(job.id, job)
    if (this.#jobs.size > KEPT) this.#jobs.delete(this.#jobs.keys().next().value!)
    const emit = (event: LoggedEvent | undefined) => {
      for (const listener of job.listeners) listener(event)
    }
    const ctx: JobContext = {
      note: (line) => {
        job.notes.push(line)
        emit(undefined)
      },
      pibake: (args) => runPibake(job, args, emit),
    }
    body(ctx).then(
      (outcome) => Object.assign(job, { state: 'done', outcome }),
      (error: unknown) => Object.assign(job, { state: 'failed', outcome: error instanceof Error ? error.message : String(error) }),
    ).finally(() => emit(undefined))
    return job
  }

  /**
   * Stops every running child by PID: SIGTERM (pibake undoes its mounts and loop devices, then
   * exits), SIGKILL after `graceMs` (what it left, pibake clean undoes).
   */
  async stop(graceMs = 120_000): Promise<void> {
    const running = [...this.#jobs.values()].filter((job) => job.child !== undefined)
    for (const job of running) process.kill(job.child!, 'SIGTERM')
    for (let waited = 0; running.some((job) => job.child !== undefined); waited += 100) {
      if (waited === graceMs) for (const job of running) if (job.child !== undefined) process.kill(job.child, 'SIGKILL')
      await new Promise((done) => setTimeout(done, 100))
    }
  }
}

function runPibake(job: Job, args: readonly string[], emit: (event: LoggedEvent | undefined) => void): Promise<PibakeRun> {
  const child = spawn(process.execPath, [SELF_CLI, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  job.child = child.pid
  let summary: BuildSummary | undefined
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000)
  })
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = parseEvent(line)
    if (!event) {
      stdout += `${line}\n`
      return
    }
    if (event.type === 'summary') summary = event
    foldEvent(job.tasks, event)
    emit(event)
  })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      job.child = undefined
      resolve({ code: code ?? (signal ? 128 : 1), summary, stdout, stderr })
    })
  })
}
