/**
 * What a build tells the outside world. Stages never print: they emit these events, which the
 * renderers (listr2 task list, plain lines, JSON lines) show and the run log records.
 */
export type StageStatus = 'run' | 'cached' | 'skipped'

export type BuildEvent =
  | { readonly type: 'plan'; readonly recipe: string; readonly stages: readonly PlannedStage[] }
  | { readonly type: 'stage-start'; readonly stage: string }
  | { readonly type: 'stage-end'; readonly stage: string; readonly status: 'done' | 'cached' | 'skipped' | 'failed'; readonly reason?: string; readonly ms?: number }
  /** A sub-task of a stage; `cached`: its result was reused, it did not run. */
  | { readonly type: 'step'; readonly stage: string; readonly step: string; readonly cached?: boolean }
  | {
      readonly type: 'progress'
      readonly stage: string
      readonly done: number
      readonly total?: number
      readonly unit: 'bytes' | 'files'
      /** Which of several concurrent transfers (a publish target), when there are several. */
      readonly label?: string
      /** Files sent so far, beside the bytes. */
      readonly files?: number
    }
  | { readonly type: 'log'; readonly stage: string; readonly line: string }
  | { readonly type: 'info'; readonly stage?: string; readonly message: string }
  | { readonly type: 'warning'; readonly stage?: string; readonly message: string }
  | ({ readonly type: 'published'; readonly stage: 'publish' } & PublishedTarget)
  | ({ readonly type: 'summary' } & BuildSummary)

/** What publishing did at one target. */
export interface PublishedTarget {
  /** The target's NFS folder (where the root filesystems go). */
  readonly target: string
  /** The build now live there. */
  readonly id: string
  /** False when that content was live already and nothing was copied. */
  readonly copied: boolean
  /** Bytes of file content sent there (files already there are not sent again; 0 when nothing was copied). */
  readonly bytes: number
}

/** The last event of a build: what a monitor needs to know about it. */
export interface BuildSummary {
  readonly recipe: string
  /**
   * `published`: a new build went live at some target; `unchanged`: every target had it live
   * already; `not-published`: the publish stage was skipped; `failed`: nothing was published.
   */
  readonly result: 'published' | 'unchanged' | 'not-published' | 'failed'
  /** The live build after this run (the first target's), when publish ran. */
  readonly build?: string
  /** Every stage: how it ended, and the seconds it ran. */
  readonly stages: readonly { readonly name: string; readonly status: 'done' | 'cached' | 'skipped' | 'failed'; readonly seconds?: number }[]
  readonly targets: readonly PublishedTarget[]
  readonly seconds: number
  /** Why the build failed. */
  readonly error?: string
}

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
