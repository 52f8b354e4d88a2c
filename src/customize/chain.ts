/**
 * The customize steps as a chain of cached layers: each step writes its own overlayfs layer over the
 * ones before it, kept in `<out>/work/<recipe>/steps/<key>/` with its seal (see pipeline/seal.ts).
 *
 * A link's key is its step's inputs plus the key of the link before it; the first link's includes
 * the stage's parent key (the image, the overlays), the stage's version and the build's
 * SOURCE_DATE_EPOCH setting. Editing step k changes
 * the keys of links k…n only, so a rebuild reuses links 0…k-1 as they are and runs k…n. A link
 * whose layer is missing, unsealed or changed since it was sealed is run again, with every link
 * after it (they were built on what it held).
 *
 * What is kept: the chain of the last build that succeeded, and the links a failed build finished
 * (so that fixing a failing step re-runs from it). Everything else under `steps/` is removed after
 * each run, so the folder holds at most two chains of one recipe.
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { stableJson } from '../pipeline/manifest.ts'
import { checkSeal, sealLayer } from '../pipeline/seal.ts'
import type { CustomizeStep } from '../recipe/types.ts'
import { stepInputs } from './steps.ts'

/** One layer of the chain: one step (or the `--upgrade` dist-upgrade), or, past MAX_LINKS, the remaining steps together. */
export interface Link {
  readonly steps: readonly CustomizeStep[]
  readonly upgrade: boolean
  readonly key: string
  /** `<out>/work/<recipe>/steps/<key>`: holds `root/`, `boot/`, `link.json` and `seal.json`. */
  readonly dir: string
}

/**
 * Past this many links the remaining steps share the last one: each link is a lower layer of every
 * later mount, and overlayfs takes one page of mount options (about 140 relative layer paths).
 */
export const MAX_LINKS = 100

const RECORD = 'chain.json'
/** The trees of a layer. */
export const TREES = ['root', 'boot'] as const

export function chainDir(workspaceDir: string): string {
  return join(workspaceDir, 'steps')
}

/** The chain for `steps` (and the upgrade after them), built on the stage's `parent` key. */
export async function chainOf(dir: string, steps: readonly CustomizeStep[], options: { readonly parent: string; readonly version: number; readonly upgrade: boolean; readonly epoch: number | 'image' }): Promise<Link[]> {
  const groups: CustomizeStep[][] = steps.slice(0, MAX_LINKS - 1).map((step) => [step])
  if (steps.length >= MAX_LINKS) groups.push(steps.slice(MAX_LINKS - 1))
  const links: Link[] = []
  // The build's SOURCE_DATE_EPOCH setting: every link's files are dated with it (see repro/clamp.ts).
  let previous = stableJson({ parent: options.parent, version: options.version, epoch: options.epoch })
  const add = (group: readonly CustomizeStep[], upgrade: boolean, inputs: unknown) => {
    const key = createHash('sha256').update(stableJson({ previous, inputs })).digest('hex').slice(0, 20)
    links.push({ steps: group, upgrade, key, dir: join(dir, key) })
    previous = key
  }
  for (const group of groups) add(group, false, await Promise.all(group.map(stepInputs)))
  if (options.upgrade) add([], true, 'dist-upgrade')
  return links
}

/** Why the link's layer cannot be reused, or undefined when it can. */
export async function linkProblem(link: Link): Promise<string | undefined> {
  return checkSeal(link.dir)
}

/** An empty layer for the link (whatever was there is removed first). */
export async function startLink(link: Link): Promise<void> {
  await rm(link.dir, { recursive: true, force: true })
  for (const tree of TREES) await mkdir(join(link.dir, tree), { recursive: true })
}

/** Once the link's steps ran and its views are unmounted: overlayfs' work folder goes, the layer is sealed. */
export async function finishLink(link: Link, describe: (step: CustomizeStep) => string): Promise<void> {
  await rm(join(link.dir, '.work'), { recursive: true, force: true })
  const what = [...link.steps.map(describe), ...(link.upgrade ? ['apt-get dist-upgrade (--upgrade)'] : [])]
  await writeFile(join(link.dir, 'link.json'), `${JSON.stringify({ key: link.key, steps: what }, null, 2)}\n`)
  await sealLayer(link.dir, TREES)
}

/**
 * Removes every layer under `dir` but `keep` and, when `succeeded` is false, the chain of the last
 * build that succeeded; when it is true, `keep` becomes that chain.
 */
export async function pruneChains(dir: string, keep: readonly Link[], succeeded: boolean): Promise<void> {
  const record = join(dir, RECORD)
  const previous = succeeded ? [] : await readFile(record, 'utf8').then((text) => (JSON.parse(text) as { links: string[] }).links, () => [] as string[])
  const kept = new Set([...previous, ...keep.map((link) => link.key)])
  if (succeeded) {
    await mkdir(dir, { recursive: true })
    await writeFile(`${record}.tmp`, `${JSON.stringify({ links: keep.map((link) => link.key) }, null, 2)}\n`)
    await rename(`${record}.tmp`, record)
  }
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name === RECORD || name === `${RECORD}.tmp` || kept.has(name)) continue
    await rm(join(dir, name), { recursive: true, force: true })
  }
}
