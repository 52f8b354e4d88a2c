/**
 * Showing a build's events: a listr2 task list on a terminal, plain labelled lines otherwise, or
 * one JSON object per line with --json.
 */
import { Listr } from 'listr2'
import { formatBytes, type BuildEvent, type EventSink } from '../pipeline/events.ts'

export interface Renderer {
  readonly sink: EventSink
  /** Waits until everything shown is flushed. */
  readonly done: () => Promise<void>
}

export function jsonRenderer(out: NodeJS.WritableStream = process.stdout): Renderer {
  return { sink: (event) => void out.write(`${JSON.stringify(event)}\n`), done: async () => {} }
}

/** `stage | line`, one line per event: for logs, CI and terminals that aren't. */
export function plainRenderer(out: NodeJS.WritableStream = process.stderr): Renderer {
  const lastProgress = new Map<string, number>()
  const write = (stage: string | undefined, text: string) => out.write(`${(stage ?? 'pibake').padEnd(9)}| ${text}\n`)
  const sink = (event: BuildEvent) => {
    switch (event.type) {
      case 'plan':
        for (const s of event.stages) write(s.name, `${s.status}${s.reason && s.reason !== s.status ? ` (${s.reason})` : ''}`)
        break
      case 'stage-start':
        write(event.stage, 'running')
        break
      case 'stage-end':
        if (event.status === 'done' || event.status === 'failed') write(event.stage, `${event.status}${event.ms !== undefined ? ` in ${(event.ms / 1000).toFixed(1)} s` : ''}`)
        break
      case 'progress':
        if (Date.now() - (lastProgress.get(event.label ?? '') ?? 0) < 2000) break
        lastProgress.set(event.label ?? '', Date.now())
        write(event.stage, progressText(event))
        break
      case 'step':
        write(event.stage, `› ${event.step}${event.cached ? ' (cached)' : ''}`)
        break
      case 'log':
        write(event.stage, event.line)
        break
      case 'info':
        write(event.stage, event.message)
        break
      case 'warning':
        write(event.stage, `warning: ${event.message}`)
        break
    }
  }
  return { sink, done: async () => {} }
}

export function progressText(event: Extract<BuildEvent, { type: 'progress' }>): string {
  const amount = (n: number) => (event.unit === 'bytes' ? formatBytes(n) : `${n} files`)
  const text = event.total ? `${amount(event.done)} of ${amount(event.total)} (${Math.floor((event.done / event.total) * 100)}%)` : amount(event.done)
  return `${event.label ? `${event.label}: ` : ''}${text}${event.files === undefined ? '' : `, ${event.files} files`}`
}

/** The part of a listr2 task this renderer uses. */
interface Task {
  title: string | undefined
  output: string | undefined
}

/** The task list: one task per stage, its output and progress shown under it while it runs. */
export function listrRenderer(fallback: Renderer = plainRenderer()): Renderer {
  const tasks = new Map<string, { task?: Task; settle?: (error?: Error) => void; ended?: { error?: Error } }>()
  let list: Promise<void> | undefined
  const progress = new Map<string, Map<string, string>>()
  const entry = (stage: string) => tasks.get(stage) ?? tasks.set(stage, {}).get(stage)!
  const end = (stage: string, error?: Error) => {
    const e = entry(stage)
    e.ended = error ? { error } : {}
    e.settle?.(error)
  }
  const sink = (event: BuildEvent) => {
    if (event.type === 'plan') {
      list = startList(event, entry)
      return
    }
    if (!list) return fallback.sink(event)
    const stage = 'stage' in event ? event.stage : undefined
    const task = stage ? tasks.get(stage)?.task : undefined
    if (event.type === 'stage-end') end(event.stage, event.status === 'failed' ? new Error(`${event.stage} failed`) : undefined)
    else if (event.type === 'progress' && task) {
      const lines = (progress.get(event.stage) ?? new Map<string, string>()).set(event.label ?? '', progressText(event))
      progress.set(event.stage, lines)
      task.title = `${event.stage} — ${[...lines.values()].join('  ·  ')}`
    }
    else if ((event.type === 'log' || event.type === 'info' || event.type === 'step') && task) task.output = event.type === 'log' ? event.line : event.type === 'step' ? `› ${event.step}${event.cached ? ' (cached)' : ''}` : event.message
    else if (event.type === 'warning') fallback.sink(event)
  }
  const done = async () => {
    for (const [stage, e] of tasks) if (!e.ended) end(stage, new Error('not run'))
    await list?.catch(() => {})
  }
  return { sink, done }
}

function startList(event: Extract<BuildEvent, { type: 'plan' }>, entry: (stage: string) => { task?: Task; settle?: (error?: Error) => void; ended?: { error?: Error } }): Promise<void> {
  const list = new Listr<unknown>(
    event.stages.map((planned) => ({
      title: planned.name,
      task: (_ctx, task) => {
        if (planned.status === 'skipped') return task.skip(`${planned.name}: skipped (${planned.reason})`)
        if (planned.status === 'cached') {
          task.title = `${planned.name} (cached)`
          return
        }
        const e = entry(planned.name)
        e.task = task
        return new Promise<void>((resolve, reject) => {
          e.settle = (error) => (error ? reject(error) : resolve())
          if (e.ended) e.settle(e.ended.error)
        }).finally(() => {
          task.title = planned.name
        })
      },
      rendererOptions: { persistentOutput: false, outputBar: 3 },
    })),
    { concurrent: false, exitOnError: true, rendererOptions: { collapseSubtasks: false, collapseSkips: false } },
  )
  return list.run().then(() => undefined)
}
