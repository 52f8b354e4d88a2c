/** `pibake site`, `rollback`, `unpublish`, `gc`: a site's recipes, nodes and builds, and what an admin does to them. */
import { resolve } from 'node:path'
import { UsageError } from '../errors.ts'
import { formatBytes } from '../pipeline/events.ts'
import { gc, purgeNodeData, requireRecord, rollback, unpublish } from '../site/ops.ts'
import { siteStatus, type RecipeView, type SiteView } from '../site/status.ts'
import { openSite, type Site } from '../site/store.ts'
import type { TierServer } from '../site/tier.ts'
import { oneArgument, outDir, type Values } from './commands.ts'

/** `--target DIR` (a site's configuration folder), or the default target under `--out`. */
export function siteFromOptions(values: Values): Site {
  const config = values.target ? resolve(values.target) : resolve(outDir(values), 'publish')
  return openSite({ kind: 'local', path: config })
}

export async function siteCommand(args: readonly string[], values: Values): Promise<number> {
  if (args.length > 1) throw new UsageError(`pibake site takes at most one recipe, got ${args.join(' ')}`, 'choose the site with --target DIR or --out DIR')
  const site = siteFromOptions(values)
  if (values.package !== undefined) return (await import('./sbom.ts')).packageCommand(site, values.package, values)
  const view = args[0] === undefined ? await siteStatus(site) : await oneRecipe(await siteStatus(site), args[0], site)
  if (values.json) return json(view)
  if (!view.recipes.length) {
    process.stdout.write(`no recipe is published to ${view.config}\n`)
    return 0
  }
  process.stdout.write(`site ${view.config}\n`)
  for (const recipe of view.recipes) printRecipe(recipe)
  if (view.nfsServers) printTier(view.nfsServers)
  return 0
}

/** The site as it shows one recipe, or the error saying which recipes it has. */
async function oneRecipe(view: SiteView, recipe: string, site: Site): Promise<SiteView> {
  const recipes = view.recipes.filter((r) => r.recipe === recipe)
  // Not on the site: the error that says which recipes are.
  if (!recipes.length) await requireRecord(site, recipe)
  return { ...view, recipes }
}

/** Each NFS server of the site's tier and its nodes. */
function printTier(servers: readonly TierServer[]): void {
  process.stdout.write('\nNFS servers\n')
  table(
    ['  SERVER', 'STATE', 'NODES', 'WHICH'],
    servers.map((s) => [`  ${s.server}`, s.drained ? 'drained' : 'serving', String(s.nodes.length), s.nodes.map((n) => `${n.hostname}${n.pinned ? ' (pinned)' : ''}`).join(', ') || '-']),
  )
}

function printRecipe(recipe: RecipeView): void {
  process.stdout.write(`\n${recipe.recipe}  (${recipe.file})  live: ${recipe.live ?? 'none'}\n`)
  table(
    ['  NODE', 'MAC', 'IP', 'MODEL', 'SERIAL', 'BOOTS'],
    recipe.nodes.map((n) => [`  ${n.hostname}`, n.mac, n.ip ?? '(DHCP)', n.model, n.serial ?? '-', n.boots ? `${n.boots.recipe === recipe.recipe ? '' : `${n.boots.recipe}/`}${n.boots.build}` : '(no link)']),
  )
  table(
    ['  BUILD', 'PUBLISHED', 'SIZE', 'STATE'],
    recipe.builds.map((b) => [`  ${b.id}`, b.created.replace('T', ' ').slice(0, 19), b.bytes === undefined ? '-' : formatBytes(b.bytes), b.live ? 'LIVE' : b.retention]),
  )
}

export async function rollbackCommand(args: readonly string[], values: Values): Promise<number> {
  const result = await rollback(siteFromOptions(values), oneArgument(args, 'a recipe of the site (its name or its file)'), values.to)
  if (values.json) return json(result)
  process.stdout.write(`${result.recipe}: live build ${result.from ?? 'none'} → ${result.to}; nodes switched: ${result.switched.join(', ') || 'none'}\n`)
  if (result.skipped.length) process.stdout.write(`not in build ${result.to}, left as they were: ${result.skipped.join(', ')}\n`)
  return 0
}

export async function unpublishCommand(args: readonly string[], values: Values): Promise<number> {
  const result = await unpublish(siteFromOptions(values), oneArgument(args, 'a recipe of the site (its name or its file)'), { purgeNodeData: values.purgeNodeData ?? false })
  if (values.json) return json(result)
  process.stdout.write(`${result.recipe}: removed from the site's ${result.configChanged.join(', ') || 'configuration'}; its nodes (${result.nodes.join(', ')}) get no boot answer; builds removed: ${result.builds.join(', ') || 'none'}\n`)
  if (values.purgeNodeData) process.stdout.write(`persisted folders removed: ${result.nodeData.join(', ') || 'none'}\n`)
  return 0
}

export async function gcCommand(args: readonly string[], values: Values): Promise<number> {
  if (args.length > 1) throw new UsageError(`pibake gc takes at most one recipe, got ${args.join(' ')}`)
  if (values.purgeNodeData && args.length) {
    throw new UsageError(`pibake gc --purge-node-data takes no recipe (got ${args[0]}): it removes the persisted folders of nodes no recipe lists, which are no recipe's`, 'run pibake gc --purge-node-data --dry-run to see which it would remove')
  }
  const keep = { ...number(values.keepBuilds, '--keep-builds', 'builds', 1), ...number(values.keepDays, '--keep-days', 'days', 0) }
  const site = siteFromOptions(values)
  const results = await gc(site, { ...(args[0] ? { recipe: args[0] } : {}), keep, dryRun: values.dryRun ?? false })
  const nodeData = values.purgeNodeData ? await purgeNodeData(site, { dryRun: values.dryRun ?? false }) : undefined
  if (values.json) return json(nodeData ? { builds: results, nodeData } : results)
  for (const result of results) {
    for (const build of result.kept) process.stdout.write(`${result.recipe} ${build.id}: kept (${build.why})\n`)
    for (const build of result.removed) process.stdout.write(`${result.recipe} ${build.id}: ${values.dryRun ? 'would remove' : 'removed'} (${build.why})\n`)
  }
  for (const path of nodeData?.removed ?? []) process.stdout.write(`${path}: ${values.dryRun ? 'would remove' : 'removed'} (persisted folders of a node no recipe lists)\n`)
  for (const path of nodeData?.strange ?? []) process.stdout.write(`${path}: left alone (not a node's folder as pibake names it)\n`)
  return 0
}

function number<K extends string>(text: string | undefined, flag: string, key: K, min: number): Partial<Record<K, number>> {
  if (text === undefined) return {}
  const value = Number(text)
  if (!Number.isFinite(value) || value < min) throw new UsageError(`${flag} ${text}: expected a number, at least ${min}`)
  return { [key]: value } as Partial<Record<K, number>>
}

function json(value: unknown): number {
  process.stdout.write(`${JSON.stringify(value)}\n`)
  return 0
}

function table(header: readonly string[], rows: readonly string[][]): void {
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)))
  for (const row of all) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()}\n`)
}
