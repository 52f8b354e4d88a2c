/**
 * A build's SBOMs as the publish stage writes them: made once per build content (the publish key),
 * recipe text, pibake version and SOURCE_DATE_EPOCH, and kept in the stage's folder, so that another
 * target, or a publish that was cut off and runs again, reuses them. A rebuild whose content is
 * already live asks for none (publishTrees copies nothing then).
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { stableJson } from '../pipeline/manifest.ts'
import type { LayerContext } from '../pipeline/stage.ts'
import type { HostFiles } from '../publish/files.ts'
import { epochSetting, sourceDateEpoch } from '../repro/epoch.ts'
import { buildId } from '../site/names.ts'
import { selfVersion } from '../self.ts'
import { collectSbom } from './collect.ts'
import { DPKG_STATUS } from './dpkg.ts'
import { cyclonedxDocument } from './cyclonedx.ts'
import { SBOM_FORMATS, SBOM_SUFFIX, type BuildSboms } from './files.ts'
import { hashFile, recipeProvenance } from './provenance.ts'
import { spdxDocument } from './spdx.ts'

/** Bump when the documents' content changes for the same build. */
const SBOM_VERSION = 1

/**
 * Writes the build's SBOMs beside its tree in `builds` (`<id>.spdx.json`, `<id>.cdx.json`): before its
 * record, so that a build with a record always has them.
 */
export async function publishSboms(ctx: LayerContext, files: HostFiles, builds: string, id: string, root: string): Promise<void> {
  const sboms = await buildSboms(ctx, root)
  for (const format of SBOM_FORMATS) await files.writeAtomic(join(builds, `${buildId(id, 'a build SBOM')}${SBOM_SUFFIX[format]}`), sboms[format])
}

/** Targets published at once ask for the same documents: made once per key in this process. */
const making = new Map<string, Promise<BuildSboms>>()

/** The SBOMs of the tree `root` (the build's merged view), from the stage's cache when it has them. */
export async function buildSboms(ctx: LayerContext, root: string): Promise<BuildSboms> {
  const recipeText = await hashFile(ctx.recipe.file).then((h) => h.sha256, () => 'none')
  // The copied files are part of the publish key already (overlay and customize inputs hash them).
  const key = createHash('sha256').update(stableJson({ version: SBOM_VERSION, build: ctx.key, recipe: recipeText, pibake: selfVersion(), epoch: epochSetting({ recipe: ctx.recipe }) })).digest('hex')
  const pending = making.get(key) ?? makeSboms(ctx, root, key)
  making.set(key, pending)
  try {
    return await pending
  } finally {
    making.delete(key)
  }
}

async function makeSboms(ctx: LayerContext, root: string, key: string): Promise<BuildSboms> {
  const dir = join(ctx.workspace.stageDir('publish'), 'sbom')
  const cached = await readCached(dir, key)
  if (cached) {
    ctx.emit({ type: 'info', stage: 'publish', message: 'SBOM (SPDX 2.3, CycloneDX 1.6): made for this build before, reused' })
    return cached
  }
  const { arch } = await ctx.workspace.imageInfo()
  const data = await collectSbom(root, {
    recipe: ctx.recipe.name,
    key: ctx.key,
    pibake: selfVersion(),
    provenance: await recipeProvenance(ctx.recipe),
    archives: join(ctx.workspace.cache, 'apt', arch, 'archives'),
    created: (await sourceDateEpoch(root, { recipe: ctx.recipe })).seconds,
  })
  const sboms: BuildSboms = { spdx: `${JSON.stringify(spdxDocument(data), null, 2)}\n`, cyclonedx: cyclonedxDocument(data) }
  await writeCached(dir, key, sboms)
  const licensed = data.packages.filter((p) => p.license).length
  if (!data.packages.length) ctx.emit({ type: 'info', stage: 'publish', message: `the build has no dpkg database (${DPKG_STATUS}): its SBOM lists no packages` })
  ctx.emit({ type: 'info', stage: 'publish', message: `SBOM (SPDX 2.3, CycloneDX 1.6): ${data.packages.length} packages, ${licensed} with a machine-readable license, ${data.packages.filter((p) => p.deb).length} .deb hashes from apt's cache` })
  return sboms
}

async function readCached(dir: string, key: string): Promise<BuildSboms | undefined> {
  const stored = await readFile(join(dir, 'key'), 'utf8').catch(() => undefined)
  if (stored?.trim() !== key) return undefined
  const [spdx, cyclonedx] = await Promise.all(SBOM_FORMATS.map((f) => readFile(join(dir, `build${SBOM_SUFFIX[f]}`), 'utf8'))).catch(() => [])
  return spdx !== undefined && cyclonedx !== undefined ? { spdx, cyclonedx } : undefined
}

/** The documents first, the key last: a key names only documents that are whole. */
async function writeCached(dir: string, key: string, sboms: BuildSboms): Promise<void> {
  await rm(join(dir, 'key'), { force: true })
  await mkdir(dir, { recursive: true })
  for (const format of SBOM_FORMATS) {
    const file = join(dir, `build${SBOM_SUFFIX[format]}`)
    await writeFile(`${file}.new`, sboms[format])
    await rename(`${file}.new`, file)
  }
  await writeFile(join(dir, 'key'), `${key}\n`)
}
