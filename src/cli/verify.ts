/** `pibake verify [recipe] [build]`: each published build checked against what was built. */
import { UsageError } from '../errors.ts'
import { recipeNameOf } from '../recipe/argument.ts'
import { buildId } from '../site/names.ts'
import type { SiteRecord } from '../site/record.ts'
import { openSite, readRecord, readSite, type Site } from '../site/store.ts'
import { formatDiff } from '../snapshot/format.ts'
import { isEmptyDiff } from '../snapshot/diff.ts'
import { verifyBuild, type Verified } from '../verify/verify.ts'
import { resolve } from 'node:path'
import { outDir, type Values } from './commands.ts'

export async function verifyCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  if (args.length > 2) throw new UsageError(`pibake verify takes at most a recipe and one of its builds, got ${args.join(' ')}`, 'choose the site with --target DIR or --out DIR')
  // The site as pibake site opens it (--target, or <out>/publish), without the site commands' modules
  // (ops.ts and the configuration renderers): they are most of what starting this command costs.
  const site = openSite({ kind: 'local', path: values.target ? resolve(values.target) : resolve(outDir(values), 'publish') })
  try {
    const records = args[0] === undefined ? await readSite(site) : [await recordOf(site, await recipeNameOf(args[0]))]
    if (!records.length) throw new UsageError(`no recipe is published to ${site.files.describe(site.config)}`, 'choose the site with --target DIR or --out DIR')
    const allowedSigners = values.allowedSigners === undefined ? undefined : resolve(values.allowedSigners)
    const results: Verified[] = []
    for (const record of records) {
      const id = args[1] === undefined ? liveBuild(record) : buildId(args[1], `the build of ${record.recipe} to verify`)
      const result = await verifyBuild(site.hosts, record.where.nfs, record.recipe, id, { allowedSigners, mtime: values.mtime, signal })
      results.push(result)
      if (!values.json) process.stdout.write(`${describe(result)}\n`)
    }
    if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`)
    return results.every((r) => isEmptyDiff(r.diff)) ? 0 : 1
  } finally {
    await site.hosts.close()
  }
}

async function recordOf(site: Site, recipe: string): Promise<SiteRecord> {
  const record = await readRecord(site, recipe)
  if (record) return record
  const known = (await readSite(site)).map((r) => r.recipe)
  throw new UsageError(`no recipe "${recipe}" is published to the site at ${site.files.describe(site.config)}`, known.length ? `recipes there: ${known.join(', ')}` : 'nothing is published there yet (pibake build publishes)')
}

function liveBuild(record: SiteRecord): string {
  if (record.live === undefined) throw new UsageError(`${record.recipe} has no live build to verify`, 'name one of its builds: pibake verify RECIPE BUILD (pibake site lists them)')
  return buildId(record.live, `the live build of ${record.recipe}`)
}

/** `web 20261125-…: identical to what was built (31200 paths; signed by ops@example)`, or the paths that differ. */
function describe(result: Verified): string {
  const signature = result.signature.state === 'verified' ? `signed by ${result.signature.principal}` : result.signature.state === 'unsigned' ? 'unsigned' : 'signed, signature not checked (no --allowed-signers)'
  const head = `${result.recipe} ${result.id} at ${result.where}`
  if (isEmptyDiff(result.diff)) return `${head}: identical to what was built (${result.entries} paths; ${signature})`
  return `${head}: DIFFERS from what was built (${signature})\n${formatDiff(result.diff)}`
}
