/**
 * A published build's SBOM read back: the file beside its tree, or, for a build published before
 * pibake wrote them, made from the tree's own dpkg database and its record `<id>.json`.
 */
import { readFile, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { PibakeError } from '../errors.ts'
import { sourceDateEpoch } from '../repro/epoch.ts'
import { requireRecord } from '../site/ops.ts'
import { buildId, isBuildId } from '../site/names.ts'
import { buildRoot } from '../site/paths.ts'
import { treePaths } from '../site/record.ts'
import { treeFiles, type Site } from '../site/store.ts'
import { selfVersion } from '../self.ts'
import { collectSbom } from './collect.ts'
import { cyclonedxDocument } from './cyclonedx.ts'
import { SBOM_SUFFIX, type SbomFormat } from './files.ts'
import { spdxDocument } from './spdx.ts'

/** The SBOM of the published build folder `dir` (`<nfs>/<recipe>/builds/<id>`). */
export async function buildDirSbom(dir: string, format: SbomFormat): Promise<string> {
  const tree = resolve(dir)
  const id = basename(tree)
  if (!isBuildId(id) || !(await stat(tree).then((s) => s.isDirectory(), () => false))) {
    throw new PibakeError(`${dir} is not a published build folder (<nfs>/<recipe>/builds/<build id>)`, 'give a recipe (its name or file) or a build folder, e.g. out/publish/nfs/cluster-node/builds/20261125-174233-1a2b3c4d')
  }
  const published = await readFile(`${tree}${SBOM_SUFFIX[format]}`, 'utf8').catch(() => undefined)
  return published ?? (await treeSbom(tree, id, format))
}

/** The SBOM of a recipe's build on the site (default: the live one), read where the build is (locally or over SSH). */
export async function recipeSbom(site: Site, recipe: string, format: SbomFormat, build?: string): Promise<{ id: string; text: string }> {
  const record = await requireRecord(site, recipe)
  const id = build === undefined ? record.live : buildId(build, 'the build')
  if (!id || !record.builds.some((b) => b.id === id)) {
    throw new PibakeError(id ? `${recipe} has no build ${id}` : `${recipe} has no live build`, `builds: ${record.builds.map((b) => b.id).join(', ') || 'none'}`)
  }
  const file = `${buildRoot(treePaths(record), recipe, buildId(id, `the site record of ${recipe}`))}${SBOM_SUFFIX[format]}`
  const files = treeFiles(site, record, 'nfs')
  const text = await files.readText(file)
  if (text !== undefined) return { id, text }
  if (record.where.nfs.kind === 'local') return { id, text: await treeSbom(join(dirname(file), id), id, format) }
  throw new PibakeError(`build ${id} of ${recipe} has no SBOM at ${files.describe(file)} (published before pibake wrote them)`, `copy the build folder here and run pibake sbom on it, or build ${recipe} again with a change`)
}

/** An SBOM made from a build's tree and its record: no recipe files known, only the image. */
async function treeSbom(tree: string, id: string, format: SbomFormat): Promise<string> {
  const record = await readFile(join(dirname(tree), `${id}.json`), 'utf8').then((text) => JSON.parse(text) as unknown, () => undefined)
  const fields = typeof record === 'object' && record !== null ? (record as Record<string, unknown>) : {}
  const image = typeof fields.image === 'object' && fields.image !== null ? (fields.image as Record<string, unknown>) : {}
  const data = await collectSbom(tree, {
    recipe: typeof fields.recipe === 'string' ? fields.recipe : basename(dirname(dirname(tree))),
    key: typeof fields.key === 'string' ? fields.key : id,
    pibake: selfVersion(),
    provenance: { image: { name: typeof image.path === 'string' ? basename(image.path) : 'unknown', sha256: typeof image.sha256 === 'string' ? image.sha256 : '' }, files: [] },
    created: (await sourceDateEpoch(tree)).seconds,
  })
  return format === 'spdx' ? `${JSON.stringify(spdxDocument(data), null, 2)}\n` : cyclonedxDocument(data)
}
