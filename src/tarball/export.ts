/**
 * `pibake export`: a build as one deterministic root tarball (`.tar`, `.tar.xz`, `.tar.zst`) that
 * `docker import`, `machinectl import-tar`, PiServer and a recipe's `image.path` take. A recipe
 * names its live build on its first publish target (the root, and the boot files under
 * `boot/firmware/`); a folder is exported as it is (a build's root: `<nfs>/<recipe>/builds/<id>`).
 */
import { readFile, readlink, realpath, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { PibakeError } from '../errors.ts'
import type { Recipe } from '../recipe/types.ts'
import { isBuildId } from '../site/names.ts'
import { TARBALL_SUFFIXES, tarballKind, writeTarball } from './compression.ts'
import { BOOT_PREFIX } from './names.ts'
import { packTree } from './pack.ts'

export interface ExportOptions {
  /** The tarball to write; its name says how it is compressed. */
  readonly output: string
  /** `<out>` of the recipe's builds (for a recipe's default publish target). */
  readonly outDir?: string
  /** Seconds since the epoch that later times are clamped to (SOURCE_DATE_EPOCH); default: the build's time. */
  readonly clamp?: number
  readonly signal?: AbortSignal
}

export interface Exported {
  readonly file: string
  readonly root: string
  /** The boot files' folder, when they were added under boot/firmware/. */
  readonly boot?: string
  /** The time later times were clamped to, when there was one. */
  readonly clamp?: number
}

/** The build `source` (a recipe, as a file or loaded, or a build's folder) written as the tarball `options.output`. */
export async function exportBuild(source: string | Recipe, options: ExportOptions): Promise<Exported> {
  const kind = tarballKind(options.output)
  if (!kind) throw new PibakeError(`${options.output}: the file name must end in ${TARBALL_SUFFIXES.join(', ')}`, 'the name says how the tarball is compressed: root.tar.zst, root.tar.xz or root.tar')
  const build = await findBuild(source, options.outDir)
  const clamp = options.clamp ?? build.created
  const output = join(await realpath(dirname(options.output)).catch(() => {
    throw new PibakeError(`${options.output}: its folder does not exist`, 'create it first, or write the tarball elsewhere')
  }), basename(options.output))
  const partial = `${output}.${process.pid}.partial`
  try {
    const graft = build.boot ? { dir: build.boot, prefix: BOOT_PREFIX } : undefined
    const signal = options.signal ? { signal: options.signal } : {}
    // The partial file's name does not end in the output's suffix: its kind is said.
    await writeTarball(packTree(build.root, { clamp: clamp ?? Number.MAX_SAFE_INTEGER, ...(graft ? { graft } : {}), ...signal }), partial, { kind, ...signal })
    await rename(partial, output)
  } catch (error) {
    await rm(partial, { force: true })
    throw error
  }
  return { file: output, root: build.root, ...(build.boot ? { boot: build.boot } : {}), ...(clamp === undefined ? {} : { clamp }) }
}

interface FoundBuild {
  readonly root: string
  readonly boot?: string
  /** When the build was published (its record's `created`), seconds since the epoch. */
  readonly created?: number
}

async function findBuild(source: string | Recipe, outDir: string | undefined): Promise<FoundBuild> {
  if (typeof source !== 'string') return recipeBuild(source)
  const info = await stat(source).catch(() => undefined)
  if (!info) throw new PibakeError(`${source} does not exist`, 'give a recipe file, or the folder of a published build (<nfs>/<recipe>/builds/<id>)')
  if (info.isDirectory()) {
    const root = await realpath(source)
    return { root, ...(await recordTime(`${root}.json`)) }
  }
  // Loaded for a recipe only: a build's folder is exported without the recipe loader's modules (a tenth of a second).
  const { loadRecipe } = await import('../recipe/load.ts')
  return recipeBuild(await loadRecipe(source, outDir ? { outDir } : {}))
}

/** The live build of the recipe on its first publish target, which must be on this machine. */
async function recipeBuild(recipe: Recipe): Promise<FoundBuild> {
  const target = recipe.publish[0]!
  if (target.nfs.kind !== 'local' || target.tftp.kind !== 'local') {
    throw new PibakeError(`${recipe.name} is published over SSH: export reads a build on this machine`, 'copy the build folder here (rsync -aHAX) and export that folder')
  }
  const builds = join(target.nfs.path, recipe.name, 'builds')
  const link = await readlink(join(target.nfs.path, recipe.name, 'current')).catch(() => undefined)
  const id = link?.startsWith('builds/') ? link.slice('builds/'.length) : undefined
  if (!link) throw new PibakeError(`${recipe.name} has no live build in ${target.nfs.path}`, `build it first: pibake build ${recipe.file}`)
  if (!isBuildId(id)) throw new PibakeError(`${join(target.nfs.path, recipe.name, 'current')} points at ${JSON.stringify(link)}, not at builds/<build id>`, 'point it at a build (pibake rollback --to ID)')
  const boot = join(target.tftp.path, 'builds', recipe.name, id, 'common')
  if (!(await stat(boot).then((s) => s.isDirectory(), () => false))) throw new PibakeError(`build ${id} has no boot files at ${boot}`, 'publish the recipe again: pibake build')
  return { root: join(builds, id), boot, ...(await recordTime(join(builds, `${id}.json`))) }
}

async function recordTime(file: string): Promise<{ created?: number }> {
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text === undefined) return {}
  let created: unknown
  try {
    created = (JSON.parse(text) as { created?: unknown }).created
  } catch {
    return {}
  }
  const ms = typeof created === 'string' ? Date.parse(created) : NaN
  return Number.isFinite(ms) ? { created: Math.floor(ms / 1000) } : {}
}
