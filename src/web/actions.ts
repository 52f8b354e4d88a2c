/**
 * What the page can do to a site, each through the code the command line runs: a rollback is
 * `rollback()` of src/site/ops.ts; a build is `pibake build <recipe>`; a move is what the README
 * tells an administrator to do — the node's entry moved from one recipe file to the other, then
 * `pibake build <other recipe> --take` — done for them, and undone when the build fails before the
 * site took the node. Every name the page sends is checked by its pattern (src/site/names.ts) and
 * then looked up among the site's records: a recipe, build or MAC the site does not record is
 * refused, so no request can name a path. What gets built or edited is the record's recipe file, and
 * only once it passes trustedRecipeFile (src/web/recipe-file.ts).
 */
import { readFile } from 'node:fs/promises'
import { PibakeError } from '../errors.ts'
import { buildId, recipeName } from '../site/names.ts'
import { rollback, requireRecord, type RollbackResult } from '../site/ops.ts'
import { recordsDir, type SiteNode, type SiteRecord } from '../site/record.ts'
import { readRecord, readSite, type Site } from '../site/store.ts'
import { replaceContent } from '../system/replace.ts'
import type { Job, JobContext, Jobs } from './jobs.ts'
import { trustedRecipeFile } from './recipe-file.ts'
import { findNodeEntry, insertEntryAfter, removeEntry } from './recipe-text.ts'

export interface SiteContext {
  readonly site: Site
  /** pibake's out folder: its logs, and the `--out` of the builds the page starts. */
  readonly outDir: string
  readonly jobs: Jobs
  /** The dnsmasq log the page reads (`--log`), if any. */
  readonly dnsmasqLog?: string | undefined
}

/**
 * The record of a recipe the site lists, by a name from a URL or a form: a recipe name by its
 * pattern, then one of the record files in the site's folder, before it becomes part of any path.
 */
export async function listedRecord(site: Site, name: unknown, from: string): Promise<SiteRecord> {
  const recipe = recipeName(name, from)
  if (!(await site.files.list(recordsDir(site.config))).includes(`${recipe}.json`)) {
    throw new PibakeError(`the site has no recipe ${recipe}`, 'the fleets page lists its recipes')
  }
  return requireRecord(site, recipe)
}

/** A build id from a URL or a form that the record lists. */
export function listedBuild(record: SiteRecord, id: unknown, from: string): string {
  const build = buildId(id, from)
  if (!record.builds.some((b) => b.id === build)) throw new PibakeError(`${record.recipe} has no build ${build}`, 'its builds page lists them')
  return build
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i

/** The node with this MAC and the recipe it belongs to. */
export async function findNode(site: Site, mac: string): Promise<{ record: SiteRecord; node: SiteNode }> {
  if (!MAC.test(mac)) throw new PibakeError(`${JSON.stringify(mac.slice(0, 80))} is not a MAC address`, 'the fleets page lists every node')
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

/** Builds the recipe file of a recipe the site lists (`recipe` from the URL). */
export async function startBuild(ctx: SiteContext, recipe: string): Promise<Job> {
  const record = await listedRecord(ctx.site, recipe, 'the URL')
  const file = await trustedRecipeFile(record)
  requireIdle(ctx.jobs)
  return ctx.jobs.start(`build ${record.recipe}`, async (job) => {
    const summary = await build(job, ctx, file, [])
    return `${record.recipe}: ${summary}`
  })
}

export async function rollbackRecipe(ctx: SiteContext, recipe: string, to: unknown): Promise<RollbackResult> {
  const record = await listedRecord(ctx.site, recipe, 'the URL')
  const build = listedBuild(record, to, 'the form')
  requireIdle(ctx.jobs)
  return rollback(ctx.site, record.recipe, build)
}

/** The two edited recipe texts a move would write, or why it cannot be done this way. */
export async function planMove(site: Site, mac: string, to: string): Promise<MovePlan> {
  const { record: from, node } = await findNode(site, mac)
  const target = await listedRecord(site, to, 'the form')
  if (from.recipe === target.recipe) throw new PibakeError(`${node.hostname} is a node of ${to} already`)
  if (from.nodes.length === 1) {
    throw new PibakeError(`${node.hostname} is the only node of ${from.recipe}, and a recipe needs one`, `add another node to ${from.file} first, or take ${from.recipe} off the site (pibake unpublish ${from.recipe})`)
  }
  const paths = { from: await trustedRecipeFile(from), to: await trustedRecipeFile(target) }
  const [fromText, toText] = [await readFile(paths.from, 'utf8'), await readFile(paths.to, 'utf8')]
  const entry = findNodeEntry(fromText, node.mac)
  const anchor = target.nodes.length ? findNodeEntry(toText, target.nodes.at(-1)!.mac) : undefined
  if (!entry || !anchor) {
    const which = entry ? `the entry of ${target.nodes.at(-1)?.hostname} in ${target.file}` : `the entry of ${node.hostname} (mac: '${node.mac}') in ${from.file}`
    throw new PibakeError(`cannot find ${which} as a literal { … mac: '…' … } to edit`, `move it by hand: take its entry out of ${from.file}, add it to the nodes of ${target.file}, then pibake build ${target.file} --take`)
  }
  const text = fromText.slice(entry.start, entry.end)
  return { from, to: target, node, files: paths, before: { from: fromText, to: toText }, after: { from: removeEntry(fromText, entry), to: insertEntryAfter(toText, anchor, text) }, entry: text }
}

export interface MovePlan {
  readonly from: SiteRecord
  readonly to: SiteRecord
  readonly node: SiteNode
  /** The real paths of the two recipe files (trustedRecipeFile), which the move writes. */
  readonly files: { readonly from: string; readonly to: string }
  readonly entry: string
  readonly before: { readonly from: string; readonly to: string }
  readonly after: { readonly from: string; readonly to: string }
}

export async function startMove(ctx: SiteContext, mac: string, to: string): Promise<Job> {
  const plan = await planMove(ctx.site, mac, to)
  requireIdle(ctx.jobs)
  const { from, node } = plan
  return ctx.jobs.start(`move ${node.hostname} from ${from.recipe} to ${plan.to.recipe}`, async (job) => {
    await writeMove(plan)
    job.note(`moved the entry ${plan.entry} from ${plan.files.from} to ${plan.files.to}`)
    try {
      await requireListed(job, ctx, plan.files.from, node.mac, false)
      await requireListed(job, ctx, plan.files.to, node.mac, true)
      job.note(`pibake build ${plan.files.to} --take`)
      const summary = await build(job, ctx, plan.files.to, ['--take'])
      return `${node.hostname} moved from ${from.recipe} to ${plan.to.recipe}: ${summary}`
    } catch (error) {
      const now = await readRecord(ctx.site, plan.to.recipe)
      if (!now?.nodes.some((n) => n.mac === node.mac)) {
        for (const line of await revertMove(plan)) job.note(line)
      }
      throw error
    }
  })
}

/** Writes the move's two recipe files, each keeping its mode, owner and symlink (recipes can hold password hashes). */
export async function writeMove(plan: MovePlan): Promise<void> {
  await replaceContent(plan.files.from, plan.after.from)
  await replaceContent(plan.files.to, plan.after.to)
}

/**
 * Puts back what a move wrote, file by file, and only where the file still holds what the move
 * wrote: the build can take half an hour, and an edit the administrator saved meanwhile is theirs to
 * keep (said in the notes, so they know to look). Each file keeps its mode, owner and symlink.
 */
export async function revertMove(plan: MovePlan): Promise<string[]> {
  const notes: string[] = []
  const kept: string[] = []
  for (const side of ['from', 'to'] as const) {
    const file = plan.files[side]
    const now = await readFile(file, 'utf8').catch(() => undefined)
    if (now === plan.after[side]) await replaceContent(file, plan.before[side])
    else kept.push(file)
  }
  if (!kept.length) return [`the site did not take ${plan.node.hostname}: both recipe files are as they were`]
  for (const file of kept) notes.push(`${file} was changed since the move wrote it, so it is left as it is: check whether it lists ${plan.node.hostname} (${plan.node.mac})`)
  if (kept.length === 1) notes.push(`the site did not take ${plan.node.hostname}: ${plan.files[plan.files.from === kept[0] ? 'to' : 'from']} is as it was`)
  return notes
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

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-6).join('\n')
}
