/**
 * `pibake report <recipe>`: the recipe page of `pibake serve` as one self-contained HTML file —
 * style sheet and stage chart inline, no script, no link it needs to load — for CI artifacts and mail.
 */
import { join } from 'node:path'
import { requireRecord } from '../site/ops.ts'
import { recipeRoot } from '../site/paths.ts'
import { treePaths } from '../site/record.ts'
import { resolveDir } from '../system/paths.ts'
import type { Site } from '../site/store.ts'
import { buildsBody } from './builds-view.ts'
import { buildsData } from './gather.ts'
import { h } from './html.ts'
import { page } from './layout.ts'

export interface ReportOptions {
  readonly site: Site
  /** pibake's out folder, where the logs are (default ./out). */
  readonly outDir?: string
  readonly now?: Date
}

/** The report's HTML. Compares each build with the one before it (a snapshot of each tree: slow for big roots, once). */
export async function report(recipe: string, options: ReportOptions): Promise<string> {
  const outDir = await resolveDir(options.outDir ?? 'out')
  const data = await buildsData({ site: options.site, outDir }, recipe)
  const generated = (options.now ?? new Date()).toISOString()
  const record = await requireRecord(options.site, data.recipe.recipe)
  // The SBOMs beside the builds, linked as files when the NFS tree is on this machine.
  const sboms = record.where.nfs.kind === 'local' ? join(recipeRoot(treePaths(record), record.recipe), 'builds') : undefined
  const body = h`${buildsBody(data, { report: true, sboms })}<p class="muted">Written by pibake report at ${generated.replace('T', ' ').slice(0, 19)} UTC from the site ${options.site.files.describe(options.site.config)}.</p>`
  return page(`${data.recipe.recipe} report`, undefined, body).text
}
