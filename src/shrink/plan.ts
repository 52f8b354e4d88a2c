/**
 * What `pibake plan` says of the boot files: the bytes each node pulls over TFTP per boot, per
 * model, as the last build made them (read from its layers without mounting anything), and with
 * `netboot.shrinkBoot` the bytes before shrinking beside them. `cmdline.txt` counts as the build
 * has it: publish adds each node's root arguments to it, a few hundred bytes.
 */
import { join } from 'node:path'
import { formatBytes } from '../pipeline/events.ts'
import { STAGES } from '../pipeline/stages.ts'
import { Workspace } from '../pipeline/workspace.ts'
import type { NetbootModel, Recipe } from '../recipe/types.ts'
import { Cleanup } from '../system/cleanup.ts'
import { bytesPerBoot, layeredTree, type BootTree } from './per-boot.ts'
import { lastShrunk } from './stage.ts'

export interface BootPlan {
  /** Per model of the recipe's nodes (nodes with their own config.txt lines apart), in the recipe's order. */
  readonly models: readonly { readonly model: NetbootModel; readonly nodes: number; readonly bytes: number; readonly before?: number }[]
  readonly line: string
}

/**
 * The bytes per node per boot of the last build of `recipe` in `outDir` (`skipped`: the stages this
 * build leaves out, whose folders are not part of it), or a line saying there is no build yet.
 */
export async function bootPlan(recipe: Recipe, outDir: string, skipped: readonly string[] = []): Promise<BootPlan> {
  const workspace = new Workspace(outDir, recipe.name, new Cleanup(), new AbortController().signal)
  const layers = STAGES.filter((s) => (s.kind === 'layer' || s.kind === 'layers') && !skipped.includes(s.name)).map((s) => s.name)
  const uppers: string[] = []
  for (const name of layers) uppers.push(...(await workspace.outputLayers(name)))
  const tree = layeredTree([...uppers.map((dir) => join(dir, 'boot')).reverse(), join(workspace.stageDir('extract'), 'boot')])
  if ((await tree.size('config.txt')) === undefined && (await tree.size('cmdline.txt')) === undefined) {
    return { models: [], line: 'boot files: not made yet (plan again after a build for the bytes each node pulls per boot)' }
  }
  const shrunk = await lastShrunk(workspace.stageDir('netboot'))
  const unshrunk = shrunk && beforeShrinking(tree, new Map(shrunk.map((f) => [f.file, f.before])))
  const models: { model: NetbootModel; nodes: number; bytes: number; before?: number; config: string }[] = []
  for (const node of recipe.nodes) {
    const config = node.config.join('\n')
    const same = models.find((m) => m.model === node.model && m.config === config)
    if (same) {
      same.nodes += 1
      continue
    }
    const bytes = (await bytesPerBoot(tree, node.model, node.config)).bytes
    const before = unshrunk && (await bytesPerBoot(unshrunk, node.model, node.config)).bytes
    models.push({ model: node.model, nodes: 1, bytes, ...(before !== undefined && before !== bytes ? { before } : {}), config })
  }
  const each = models.map((m) => `${m.model}${m.nodes > 1 ? ` ×${m.nodes}` : ''}: ${formatBytes(m.bytes)}${m.before === undefined ? '' : ` (${formatBytes(m.before)} before shrinking)`}`)
  return { models: models.map(({ config: _, ...m }) => m), line: `boot files: per node per boot over TFTP, as the last build made them: ${each.join(', ')}${note(recipe, shrunk !== undefined)}` }
}

function note(recipe: Recipe, wasShrunk: boolean): string {
  if (recipe.netboot.shrinkBoot && !wasShrunk) return '; netboot.shrinkBoot shrinks them at the next build (plan again after it)'
  if (!recipe.netboot.shrinkBoot && wasShrunk) return '; without netboot.shrinkBoot the next build publishes them as the image has them'
  return ''
}

/** The tree as it was before shrinking: each shrunk file at its size before. */
function beforeShrinking(tree: BootTree, before: ReadonlyMap<string, number>): BootTree {
  return { size: async (name) => ((await tree.size(name)) === undefined ? undefined : (before.get(name) ?? tree.size(name))), text: (name) => tree.text(name) }
}
