/**
 * What a build tells the outside world. Stages never print: they emit these events, which the
 * renderers (listr2 task list, plain lines, JSON lines) show and the run log records.
 */
export type StageStatus = 'run' | 'cached' | 'skipped'

export type BuildEvent =
  | { readonly type: 'plan'; readonly recipe: string; readonly stages: readonly PlannedStage[] }
  | { readonly type: 'stage-start'; readonly stage: string }
  | { readonly type: 'stage-end'; readonly stage: string; readonly status: 'done' | 'cached' | 'skipped' | 'failed'; readonly reason?: string; readonly ms?: number }
  | { readonly type: 'step'; readonly stage: string; readonly step: string }
  | { readonly type: 'progress'; readonly stage: string; readonly done: number; readonly total?: number; readonly unit: 'bytes' | 'files' }
  | { readonly type: 'log'; readonly stage: string; readonly line: string }
  | { readonly type: 'info'; readonly stage?: string; readonly message: string }
  | { readonly type: 'warning'; readonly stage?: string; readonly message: string }

export interface PlannedStage {
  readonly name: string
  readonly status: StageStatus
  /** Why the stage runs (what changed) or why it is skipped. */
  readonly reason: string
  readonly key?: string
}

export type EventSink = (event: BuildEvent) => void

/** Fans one event out to several sinks. */
export function fanOut(...sinks: readonly EventSink[]): EventSink {
  return (event) => {
    for (const sink of sinks) sink(event)
  }
}

/** Formats a byte count for people: 1.5 GiB, 320 MiB, 12 KiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${units[unit]}`
}
