/**
 * What a build was made from besides its packages: the image (its sha256, as the recipe checks it),
 * the recipe's own text, and every file the recipe brings into the image (its overlays' files, the
 * sources of its `copy` steps, the scripts its `script` steps run), each hashed.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, dirname, join, relative } from 'node:path'
import type { Recipe } from '../recipe/types.ts'
import { walk } from '../system/walk.ts'
import { compare } from './dpkg.ts'

export interface SourceFile {
  /** Relative to the recipe file's folder (`overlays/base/rootfs/etc/motd`). */
  readonly path: string
  readonly role: 'recipe' | 'overlay' | 'copy' | 'script'
  readonly sha1: string
  readonly sha256: string
}

export interface Provenance {
  readonly image: { readonly name: string; readonly sha256: string }
  /** The recipe file first (absent for a recipe given as an object), then the files it brings in, by path. */
  readonly files: readonly SourceFile[]
}

export async function recipeProvenance(recipe: Recipe): Promise<Provenance> {
  const home = dirname(recipe.file)
  const files = new Map<string, SourceFile>()
  const add = async (file: string, role: SourceFile['role']) => {
    const path = relative(home, file)
    if (!files.has(path)) files.set(path, { path, role, ...(await hashFile(file)) })
  }
  for (const dir of recipe.overlays) {
    for (const part of ['rootfs', 'bootfs']) await addTree(join(dir, part), (file) => add(file, 'overlay'))
  }
  for (const step of recipe.customize) {
    if (step.kind === 'script') await add(step.path, 'script')
    if (step.kind !== 'copy') continue
    if ((await stat(step.from)).isDirectory()) await addTree(step.from, (file) => add(file, 'copy'))
    else await add(step.from, 'copy')
  }
  const own = await hashFile(recipe.file).catch(() => undefined)
  const sorted = [...files.values()].sort((a, b) => compare(a.path, b.path))
  return {
    image: { name: basename(recipe.image.path), sha256: recipe.image.sha256 },
    files: own ? [{ path: basename(recipe.file), role: 'recipe', ...own }, ...sorted] : sorted,
  }
}

/** The regular files of `dir` (none when it is missing), in walk order. */
async function addTree(dir: string, add: (file: string) => Promise<void>): Promise<void> {
  if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) return
  for await (const entry of walk(dir)) if (entry.stats.isFile()) await add(entry.full)
}

/** SHA-1 (which SPDX 2.3 requires of a file) and SHA-256, in one read. */
export async function hashFile(file: string): Promise<{ sha1: string; sha256: string }> {
  const sha1 = createHash('sha1')
  const sha256 = createHash('sha256')
  for await (const chunk of createReadStream(file)) {
    sha1.update(chunk as Buffer)
    sha256.update(chunk as Buffer)
  }
  return { sha1: sha1.digest('hex'), sha256: sha256.digest('hex') }
}
