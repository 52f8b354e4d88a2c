/**
 * Which builds of a recipe stay on the target. A node keeps the build it booted until it reboots,
 * however many builds were published since: every build that was live within the retention window
 * stays, with the newest few and the live one. Everything else may go, and the plan says why.
 */
import type { Keep, SiteBuild, SiteRecord } from './record.ts'

export interface Kept {
  readonly id: string
  readonly why: string
}

export interface RetentionPlan {
  readonly keep: readonly Kept[]
  readonly remove: readonly Kept[]
}

const DAY_MS = 24 * 3600 * 1000

export function planRetention(record: SiteRecord, keep: Keep, now: Date): RetentionPlan {
  const newest = new Set([...record.builds].sort((a, b) => b.created.localeCompare(a.created)).slice(0, keep.builds).map((b) => b.id))
  const since = now.getTime() - keep.days * DAY_MS
  const kept: Kept[] = []
  const removed: Kept[] = []
  for (const build of record.builds) {
    const why = reasonToKeep(build, record.live, newest, since, keep)
    if (why) kept.push({ id: build.id, why })
    else removed.push({ id: build.id, why: `not live since ${lastLive(build) ?? build.created}, older than the ${keep.builds} newest` })
  }
  return { keep: kept, remove: removed }
}

function reasonToKeep(build: SiteBuild, live: string | undefined, newest: ReadonlySet<string>, since: number, keep: Keep): string | undefined {
  if (build.id === live) return 'live'
  const until = lastLive(build)
  if (until !== undefined && Date.parse(until) >= since) return `live until ${until}: nodes booted then may still run it (${keep.days} days kept)`
  if (until === undefined && Date.parse(build.created) >= since) return `published ${build.created}, within ${keep.days} days`
  if (newest.has(build.id)) return `one of the ${keep.builds} newest`
  return undefined
}

/** When the build last stopped being live, if it ever was. */
function lastLive(build: SiteBuild): string | undefined {
  return build.live.map((span) => span.until).filter((until): until is string => until !== undefined).sort().at(-1)
}
