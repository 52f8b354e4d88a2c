/** Reads what each view shows, afresh for every page: the site's records and links, the logs, dnsmasq's log. */
import { join } from 'node:path'
import { requireRecord } from '../site/ops.ts'
import { buildRoot } from '../site/paths.ts'
import { treePaths } from '../site/record.ts'
import { siteStatus, type RecipeView } from '../site/status.ts'
import { readSite, type Site } from '../site/store.ts'
import { knownSiteMacs } from '../cli/discover.ts'
import { readDnsmasqLog, unknownPis, type DnsmasqSeen } from './boots.ts'
import type { BuildsData, ChangesState } from './builds-view.ts'
import { buildChanges } from './changes.ts'
import type { FleetsData } from './fleets-view.ts'
import { readEvents, readRuns, type Run } from './runs.ts'
import { emptyTaskList, foldEvent, type TaskList } from './tasks.ts'
import type { Discovered } from '../site/identify.ts'

export interface Sources {
  readonly site: Site
  readonly outDir: string
  readonly dnsmasqLog?: string | undefined
}

export function logsDir(outDir: string): string {
  return join(outDir, 'logs')
}

export async function fleetsData(sources: Sources): Promise<FleetsData> {
  const view = await siteStatus(sources.site)
  const running = new Map<string, Run>()
  for (const recipe of view.recipes) {
    const [newest] = await readRuns(logsDir(sources.outDir), recipe.recipe, 1)
    if (newest?.state === 'running') running.set(recipe.recipe, newest)
  }
  return { view, seen: await dnsmasqSeen(sources, view.recipes), running }
}

export async function newPis(sources: Sources): Promise<Discovered[] | undefined> {
  const log = await dnsmasqLog(sources)
  if (!log) return undefined
  const seen = await readDnsmasqLog(log, new Map())
  return unknownPis(seen, new Set(await knownSiteMacs(sources.site)))
}

async function dnsmasqSeen(sources: Sources, recipes: readonly RecipeView[]): Promise<DnsmasqSeen | undefined> {
  const log = await dnsmasqLog(sources)
  if (!log) return undefined
  const ipToMac = new Map(recipes.flatMap((r) => r.nodes.flatMap((n) => (n.ip ? [[n.ip, n.mac.toLowerCase()] as const] : []))))
  return readDnsmasqLog(log, ipToMac)
}

/**
 * dnsmasq's log: `--log`, else the file the site's recipes name (`netboot.log`, which their
 * dnsmasq.conf logs to) when the site's configuration is on this machine, where dnsmasq runs.
 */
async function dnsmasqLog(sources: Sources): Promise<string | undefined> {
  if (sources.dnsmasqLog) return sources.dnsmasqLog
  const { files, config } = sources.site
  // A site over SSH names its folder host:path; its boot server's log is not a file here.
  if (files.describe(config) !== config) return undefined
  return (await readSite(sources.site)).find((record) => record.netboot.log)?.netboot.log
}

/** `waitMs`: how long to wait for the changes of builds not compared yet (the report waits for all). */
export async function buildsData(sources: Sources, recipe: string, waitMs = Infinity): Promise<BuildsData> {
  const record = await requireRecord(sources.site, recipe)
  const view = await siteStatus(sources.site)
  const mine = view.recipes.find((r) => r.recipe === record.recipe)!
  const bootedBy = new Map<string, string[]>()
  for (const node of view.recipes.flatMap((r) => r.nodes)) {
    if (node.boots?.recipe === record.recipe) bootedBy.set(node.boots.build, [...(bootedBy.get(node.boots.build) ?? []), node.hostname])
  }
  const runs = await readRuns(logsDir(sources.outDir), record.recipe)
  const live = runs[0]?.state === 'running' ? await taskListOf(runs[0].file) : undefined
  const changes = new Map<string, ChangesState>()
  const builds = mine.builds
  const nfs = record.where.nfs
  const pending: Promise<void>[] = []
  for (const [index, build] of builds.entries()) {
    const before = builds[index - 1]
    if (!before) continue
    if (nfs.kind !== 'local') {
      changes.set(build.id, { kind: 'none', why: `the builds are on ${nfs.host}: compare them there with pibake diff` })
      continue
    }
    const dir = join(buildRoot(treePaths(record), record.recipe, before.id), '..')
    changes.set(build.id, { kind: 'pending' })
    pending.push(
      buildChanges(dir, before.id, build.id).then(
        (result) => void changes.set(build.id, { kind: 'done', changes: result }),
        (error: unknown) => void changes.set(build.id, { kind: 'none', why: `cannot compare: ${error instanceof Error ? error.message : String(error)}` }),
      ),
    )
  }
  await Promise.race([Promise.all(pending), ...(Number.isFinite(waitMs) ? [new Promise((done) => setTimeout(done, waitMs))] : [])])
  return { recipe: mine, bootedBy, changes: new Map(changes), runs, live }
}

/** The task list of a run so far, from its whole log. */
export async function taskListOf(file: string): Promise<TaskList> {
  const list = emptyTaskList()
  for (const event of await readEvents(file, true)) foldEvent(list, event)
  return list
}
