/**
 * What the page can do to a site, each through the code the command line runs: a rollback is
 * `rollback()` of src/site/ops.ts; a build is `pibake build <recipe>`; a move is what the README
 * tells an administrator to do — the node's entry moved from one recipe file to the other, then
 * `pibake build <other recipe> --take` — done for them, and undone when the build fails before the
 * site took the node. Every name the page sends is looked up among the site's records: a recipe,
 * build or MAC the site does not record is refused, so no request can name a path.
 */
import { stat } from 'node:fs/promises'
import { PibakeError } from '../errors.ts'
import { localFiles } from '../publish/files.ts'
import { rollback, requireRecord, type RollbackResult } from '../site/ops.ts'
import type { SiteNode, SiteRecord } from '../site/record.ts'
import { readRecord, readSite, type Site } from '../site/store.ts'
import type { Job, JobContext, Jobs } from './jobs.ts'
import { findNodeEntry, insertEntryAfter, removeEntry } from './recipe-text.ts'

export interface SiteContext {
  readonly site: Site
  /** pibake's out folder: its logs, and the `--out` of the builds the page starts. */
  readonly outDir: string
  readonly jobs: Jobs
  /** The dnsmasq log the page reads (`--log`), if any. */
  readonly dnsmasqLog?: string | undefined
}

/** The node with this MAC and the recipe it belongs to. */
export async function findNode(site: Site, mac: string): Promise<{ record: SiteRecord; node: SiteNode }> {
  for (const record of await readSite(site)) {
    const node = record.nodes.find((n) => n.mac.toLowerCase() === mac.toLowerCase())
    if (node) return { record, node }
  }
  throw new PibakeError(`no recipe of the site has a node with MAC ${mac}`, 'the fleets page lists every node')
}

/** One action at a time: two would edit the same recipe files or race for a build's lock. */
function requireIdle(jobs: Jobs): void {
  const running = jobs.list().find((job) => job.state === 'running')
  if (running) throw new PibakeError(`"${running.title}" is still running`, 'wait for it to end (its page shows it), then try again')
}

export async function startBuild(ctx: SiteContext, recipe: string): Promise<Job> {
  const record = await requireRecord(ctx.site, recipe)
  await requireRecipeFile(record)
  requireIdle(ctx.jobs)
  return ctx.jobs.start(`build ${recipe}`, async (job) => {
    const summary = await build(job, ctx, record.file, [])
    return `${recipe}: ${summary}`
  })
}

export async function rollbackRecipe(ctx: SiteContext, recipe: string, to: string | undefined): Promise<RollbackResult> {
  requireIdle(ctx.jobs)
  return rollback(ctx.site, (await requireRecord(ctx.site, recipe)).recipe, to)
}

/** The two edited recipe texts a move would write, or why it cannot be done this way. */
export async function planMove(site: Site, mac: string, to: string): Promise<MovePlan> {
  const { record: from, node } = await findNode(site, mac)
  const target = await requireRecord(site, to)
  if (from.recipe === target.recipe) throw new PibakeError(`${node.hostname} is a node of ${to} already`)
  if (from.nodes.length === 1) {
    throw new PibakeError(`${node.hostname} is the only node of ${from.recipe}, and a recipe needs one`, `add another node to ${from.file} first, or take ${from.recipe} off the site (pibake unpublish ${from.recipe})`)
  }
  await requireRecipeFile(from)
  await requireRecipeFile(target)
  const files = localFiles()
  const [fromText, toText] = [(await files.readText(from.file))!, (await files.readText(target.file))!]
  const entry = findNodeEntry(fromText, node.mac)
  const anchor = target.nodes.length ? findNodeEntry(toText, target.nodes.at(-1)!.mac) : undefined
  if (!entry || !anchor) {
    const which = entry ? `the entry of ${target.nodes.at(-1)?.hostname} in ${target.file}` : `the entry of ${node.hostname} (mac: '${node.mac}') in ${from.file}`
    throw new PibakeError(`cannot find ${which} as a literal { … mac: '…' … } to edit`, `move it by hand: take its entry out of ${from.file}, add it to the nodes of ${target.file}, then pibake build ${target.file} --take`)
  }
  const text = fromText.slice(entry.start, entry.end)
  return { from, to: target, node, before: { from: fromText, to: toText }, after: { from: removeEntry(fromText, entry), to: insertEntryAfter(toText, anchor, text) }, entry: text }
}

export interface MovePlan {
  readonly from: SiteRecord
  readonly to: SiteRecord
  readonly node: SiteNode
  readonly entry: string
  readonly before: { readonly from: string; readonly to: string }
  readonly after: { readonly from: string; readonly to: string }
}

export async function startMove(ctx: SiteContext, mac: string, to: string): Promise<Job> {
  const plan = await planMove(ctx.site, mac, to)
  requireIdle(ctx.jobs)
  const { from, node } = plan
  return ctx.jobs.start(`move ${node.hostname} from ${from.recipe} to ${plan.to.recipe}`, async (job) => {
    const files = localFiles()
    await files.writeAtomic(from.file, plan.after.from)
    await files.writeAtomic(plan.to.file, plan.after.to)
    job.note(`moved the entry ${plan.entry} from ${from.file} to ${plan.to.file}`)
    try {
      await requireListed(job, ctx, from.file, node.mac, false)
      await requireListed(job, ctx, plan.to.file, node.mac, true)
      job.note(`pibake build ${plan.to.file} --take`)
      const summary = await build(job, ctx, plan.to.file, ['--take'])
      return `${node.hostname} moved from ${from.recipe} to ${plan.to.recipe}: ${summary}`
    } catch (error) {
      const now = await readRecord(ctx.site, plan.to.recipe)
      if (!now?.nodes.some((n) => n.mac === node.mac)) {
        await files.writeAtomic(from.file, plan.before.from)
        await files.writeAtomic(plan.to.file, plan.before.to)
        job.note(`the site did not take ${node.hostname}: both recipe files are as they were`)
      }
      throw error
    }
  })
}

/** Runs `pibake build`; its summary line, or an error with the build's own message. */
async function build(job: JobContext, ctx: SiteContext, file: string, extra: readonly string[]): Promise<string> {
  const run = await job.pibake(['build', file, '--out', ctx.outDir, ...extra])
  const s = run.summary
  if (run.code !== 0 || !s || s.result === 'failed') throw new PibakeError(`pibake build ${file} failed (exit ${run.code}): ${s?.error ?? lastLines(run.stderr)}`)
  return s.result === 'published' ? `published build ${s.build} in ${s.seconds} s` : `build ${s.build} was live already (${s.result}), ${s.seconds} s`
}

/** The recipe file, loaded by `pibake nodes`, lists the MAC (or does not). */
async function requireListed(job: JobContext, ctx: SiteContext, file: string, mac: string, listed: boolean): Promise<void> {
  const run = await job.pibake(['nodes', file, '--out', ctx.outDir])
  if (run.code !== 0) throw new PibakeError(`after the edit, ${file} does not load: ${lastLines(run.stderr)}`)
  const macs = (JSON.parse(run.stdout) as { mac: string }[]).map((n) => n.mac.toLowerCase())
  if (macs.includes(mac.toLowerCase()) !== listed) throw new PibakeError(`after the edit, ${file} ${listed ? 'does not list' : 'still lists'} ${mac}`)
}

async function requireRecipeFile(record: SiteRecord): Promise<void> {
  const found = await stat(record.file).catch(() => undefined)
  if (!found?.isFile()) throw new PibakeError(`${record.recipe} was published from ${record.file}, which is not on this machine`, 'run pibake serve where the recipes are, or build there with the command line')
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-6).join('\n')
}
