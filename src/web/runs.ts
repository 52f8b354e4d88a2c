/**
 * A recipe's builds as its JSON-lines logs tell them (`<out>/logs/<recipe>-<stamp>-<pid>.jsonl`,
 * one per run, written by build()): when each ran, how each stage ended and how long it took, and
 * whether a run is still going. The logs are the truth; nothing else is stored.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { BuildEvent, BuildSummary } from '../pipeline/events.ts'

export type LoggedEvent = BuildEvent & { readonly time?: string }

export interface Run {
  /** The log's file name: names the run in the page. */
  readonly log: string
  readonly file: string
  readonly started: string
  readonly pid: number
  /** Every stage that ended, in order, with its seconds (from the summary, or the stage-end events of a run that never finished). */
  readonly stages: BuildSummary['stages']
  readonly summary: BuildSummary | undefined
  /** `running`: no summary yet and its process is alive; `interrupted`: no summary and it is gone. */
  readonly state: BuildSummary['result'] | 'running' | 'interrupted'
}

const cache = new Map<string, { size: number; mtimeMs: number; run: Run }>()

/** The recipe's runs, newest first (at most `limit`). */
export async function readRuns(logsDir: string, recipe: string, limit = 20): Promise<Run[]> {
  const names = await logNames(logsDir, recipe)
  const runs: Run[] = []
  for (const name of names.slice(0, limit)) {
    const run = await readRun(logsDir, name).catch(() => undefined)
    if (run) runs.push(run)
  }
  return runs
}

/** Log file names of the recipe, newest first; only names of the form build() writes. */
export async function logNames(logsDir: string, recipe: string): Promise<string[]> {
  const entries = await readdir(logsDir).catch(() => [] as string[])
  return entries.filter((name) => parseLogName(recipe, name)).sort().reverse()
}

/** `<recipe>-<yyyymmddThhmmss>-<pid>.jsonl` of exactly this recipe (not of one whose name extends it). */
export function parseLogName(recipe: string, name: string): { stamp: string; pid: number } | undefined {
  if (!name.startsWith(`${recipe}-`)) return undefined
  const match = /^(\d{8}T\d{6})-(\d+)\.jsonl$/.exec(name.slice(recipe.length + 1))
  return match ? { stamp: match[1]!, pid: Number(match[2]) } : undefined
}

export async function readRun(logsDir: string, name: string): Promise<Run> {
  const file = join(logsDir, name)
  const { size, mtimeMs } = await stat(file)
  const known = cache.get(file)
  if (known && known.size === size && known.mtimeMs === mtimeMs && known.run.state !== 'running') return known.run
  const events = await readEvents(file, false)
  const pid = Number(/-(\d+)\.jsonl$/.exec(name)?.[1])
  const summary = events.findLast((e): e is Extract<LoggedEvent, { type: 'summary' }> => e.type === 'summary')
  const stages = summary?.stages ?? events.flatMap((e) => (e.type === 'stage-end' ? [{ name: e.stage, status: e.status, ...(e.ms === undefined ? {} : { seconds: Math.round(e.ms / 100) / 10 }) }] : []))
  const state = summary ? summary.result : alive(pid) ? 'running' : 'interrupted'
  const run: Run = { log: name, file, started: events[0]?.time ?? new Date(mtimeMs).toISOString(), pid, stages, summary, state }
  cache.set(file, { size, mtimeMs, run })
  return run
}

/**
 * The events of a log. Without `all`, only those that shape the view (plan, stages, steps, messages,
 * summary): a build's log lines and progress are most of its log, and skipping them before parsing
 * keeps a page over twenty logs quick.
 */
export async function readEvents(file: string, all: boolean): Promise<LoggedEvent[]> {
  const text = await readFile(file, 'utf8')
  const events: LoggedEvent[] = []
  for (const line of text.split('\n')) {
    if (!line || (!all && (line.includes('"type":"log"') || line.includes('"type":"progress"')))) continue
    const event = parseEvent(line)
    if (event) events.push(event)
  }
  return events
}

export function parseEvent(line: string): LoggedEvent | undefined {
  try {
    const value = JSON.parse(line) as unknown
    return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string' ? (value as LoggedEvent) : undefined
  } catch {
    return undefined
  }
}

/** Whether the process `pid` (a run's, from its log's name) still runs on this machine. */
export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
