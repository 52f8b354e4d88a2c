/**
 * A build's task list as the page shows it, folded from its events (the same events `--json`
 * prints and the run log records): each stage with its state, its seconds and its latest line, then
 * the messages, then the summary once there is one.
 */
import { formatBytes } from '../pipeline/events.ts'
import { progressText } from '../cli/render.ts'
import { h, type Html } from './html.ts'
import type { LoggedEvent } from './runs.ts'

type TaskState = 'waiting' | 'running' | 'done' | 'cached' | 'skipped' | 'failed'

export interface Task {
  readonly stage: string
  state: TaskState
  seconds?: number
  /** The stage's latest step, log line or progress. */
  latest?: string
  reason?: string
}

export interface TaskList {
  readonly tasks: Task[]
  readonly messages: { readonly level: 'info' | 'warning'; readonly text: string }[]
  summary?: Extract<LoggedEvent, { type: 'summary' }>
}

export function emptyTaskList(): TaskList {
  return { tasks: [], messages: [] }
}

/** Folds one event into the list (in place: a live view folds thousands). */
export function foldEvent(list: TaskList, event: LoggedEvent): TaskList {
  const task = (stage: string) => list.tasks.find((t) => t.stage === stage) ?? (list.tasks.push({ stage, state: 'waiting' }), list.tasks.at(-1)!)
  switch (event.type) {
    case 'plan':
      for (const s of event.stages) Object.assign(task(s.name), { state: s.status === 'run' ? 'waiting' : s.status, reason: s.reason })
      break
    case 'stage-start':
      task(event.stage).state = 'running'
      break
    case 'stage-end':
      Object.assign(task(event.stage), { state: event.status, ...(event.ms === undefined ? {} : { seconds: event.ms / 1000 }), ...(event.reason ? { reason: event.reason } : {}) })
      break
    case 'step':
      task(event.stage).latest = `› ${event.step}`
      break
    case 'log':
      task(event.stage).latest = event.line
      break
    case 'progress':
      task(event.stage).latest = progressText(event)
      break
    case 'info':
    case 'warning':
      list.messages.push({ level: event.type, text: event.stage ? `${event.stage}: ${event.message}` : event.message })
      if (list.messages.length > 50) list.messages.splice(0, list.messages.length - 50)
      break
    case 'summary':
      list.summary = event
      break
  }
  return list
}

export function renderTaskList(list: TaskList): Html {
  const s = list.summary
  return h`<ol class="tasks">${list.tasks.map(
    (t) => h`<li class="task ${t.state}" data-stage="${t.stage}"><span class="state">${t.state}</span> <b>${t.stage}</b>${t.seconds === undefined ? '' : ` ${t.seconds.toFixed(1)} s`}${t.reason && t.state !== 'done' && t.state !== 'running' ? h` <small>(${t.reason})</small>` : ''}${t.latest && t.state === 'running' ? h`<div class="latest">${t.latest}</div>` : ''}</li>`,
  )}</ol>
  ${list.messages.length ? h`<ul class="messages">${list.messages.map((m) => h`<li class="${m.level}">${m.text}</li>`)}</ul>` : ''}
  ${s ? h`<p class="summary ${s.result}" data-result="${s.result}">${summaryText(s)}</p>` : ''}`
}

function summaryText(s: NonNullable<TaskList['summary']>): string {
  const bytes = s.targets.reduce((sum, t) => sum + t.bytes, 0)
  const what = {
    published: `published build ${s.build} (${formatBytes(bytes)} sent)`,
    unchanged: `unchanged: build ${s.build} was live already`,
    'not-published': 'not published',
    failed: `failed: ${s.error ?? 'unknown error'}`,
  }[s.result]
  return `${s.recipe}: ${what} in ${s.seconds} s`
}
