/**
 * The build's summary, gathered from its own events as they pass (`stage-end`, `published`): one
 * `summary` event closes every build, so a monitor reading `pibake build --json` needs only its
 * last line.
 */
import { formatBytes, type BuildEvent, type BuildSummary, type EventSink, type PublishedTarget } from './events.ts'

export interface SummaryCollector {
  /** Put in front of the build's sink: records what the summary needs and passes every event on. */
  readonly sink: EventSink
  /** The summary of what was seen so far; `error` when the build failed. */
  summary(error?: unknown): BuildSummary
}

export function collectSummary(recipe: string, started = performance.now()): SummaryCollector {
  const stages = new Map<string, BuildSummary['stages'][number]>()
  const targets: PublishedTarget[] = []
  const sink: EventSink = (event: BuildEvent) => {
    if (event.type === 'stage-end') {
      stages.set(event.stage, { name: event.stage, status: event.status, ...(event.ms === undefined ? {} : { seconds: round(event.ms / 1000) }) })
    } else if (event.type === 'published') {
      const { target, id, copied, bytes } = event
      targets.push({ target, id, copied, bytes })
    }
  }
  const summary = (error?: unknown): BuildSummary => {
    const result = error !== undefined ? 'failed' : stages.get('publish')?.status !== 'done' ? 'not-published' : targets.some((t) => t.copied) ? 'published' : 'unchanged'
    return {
      recipe,
      result,
      ...(result === 'published' || result === 'unchanged' ? { build: targets[0]?.id } : {}),
      stages: [...stages.values()],
      targets,
      seconds: round((performance.now() - started) / 1000),
      ...(error === undefined ? {} : { error: error instanceof Error ? error.message : String(error) }),
    }
  }
  return { sink, summary }
}

/** One line for people (the journal of a scheduled build): what happened, where, how long it took. */
export function formatSummary(s: BuildSummary): string {
  const where = s.targets.map((t) => (t.copied ? `${t.target} (${formatBytes(t.bytes)})` : t.target)).join(', ')
  const what = {
    published: `published build ${s.build} to ${where}`,
    unchanged: `unchanged: build ${s.build} is live at ${where} already, nothing copied`,
    'not-published': 'not published (the publish stage was skipped)',
    failed: `failed, nothing published: ${(s.error ?? 'unknown error').split('\n')[0]}`,
  }[s.result]
  return `${s.recipe}: ${what} (${s.seconds} s)`
}

function round(seconds: number): number {
  return Math.round(seconds * 10) / 10
}
