/**
 * customize: runs the recipe's `customize` steps in order inside the image's root, under qemu-user
 * emulation (see system/chroot.ts), with the boot partition's files at their mount point (so that a
 * kernel upgrade or an edit of /boot/firmware/config.txt reaches the boot files). Each step is a
 * sub-task with its output streamed under it; a failing step names itself, its recipe line, its
 * command and its last output lines, and its layer is thrown away.
 *
 * Each step writes its own layer, cached by the step and every step before it (customize/chain.ts):
 * when the stage runs because step k changed, steps before k are reused and k…n run. `--force` and
 * `--from` run every step; `--refresh` (and `--upgrade`) from the first `packages` step on.
 *
 * Reproducible: commands run with SOURCE_DATE_EPOCH set, each layer loses the logs and caches that
 * carry the clock (customize/traces.ts) and its entries are dated with it (repro/clamp.ts).
 */
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { LayerContext, Stage, StageContext } from '../pipeline/stage.ts'
import { checkSeal } from '../pipeline/seal.ts'
import { checkEmulation, type Arch } from '../system/chroot.ts'
import { requirePrograms } from '../system/preflight.ts'
import { chainDir, chainOf, finishLink, linkProblem, pruneChains, startLink, TREES, type Link } from '../customize/chain.ts'
import { buildEpoch, clampLayer } from '../repro/clamp.ts'
import { epochSetting, type Epoch } from '../repro/epoch.ts'
import { stepContext, type BootTree } from '../customize/context.ts'
import { describeStep, headline, stepError } from '../customize/describe.ts'
import { runStep, stepInputs } from '../customize/steps.ts'
import { dropClockTraces } from '../customize/traces.ts'
import { archivesChanged, upgradeImage } from '../customize/upgrade.ts'

export const customize: Stage = {
  name: 'customize',
  kind: 'layers',
  version: 3,
  skip(recipe, options) {
    return recipe.customize.length || options.upgrade ? undefined : 'the recipe has no customize steps'
  },
  async verify(ctx) {
    await requirePrograms(['unshare', 'setpriv', 'chroot', 'mount', 'findmnt'])
    const arch = ctx.recipe.image.arch ?? (await knownArch(ctx))
    if (arch) await checkEmulation(arch)
  },
  async inputs(ctx) {
    return { steps: await Promise.all(ctx.recipe.customize.map(stepInputs)), ...(ctx.options.upgrade ? { upgrade: 'dist-upgrade' } : {}) }
  },
  /** `--refresh` means fresh package lists: a result built from cached ones doesn't count then. */
  async intact(ctx) {
    return !(ctx.options.refresh && ctx.recipe.customize.some((step) => step.kind === 'packages'))
  },
  /**
   * A step's layer changed or went missing since it was built: the stage runs and builds it again.
   * `--upgrade`: the cached result stands while none of the image's apt archives changed (see customize/upgrade.ts).
   */
  async stale(ctx) {
    const layers = await ctx.workspace.outputLayers('customize')
    for (const [index, layer] of layers.entries()) {
      const problem = await checkSeal(layer)
      if (problem) return `the layer of customize step ${index + 1} cannot be reused: ${problem}`
    }
    return ctx.options.upgrade ? archivesChanged(ctx.workspace.stageDir('customize'), ctx.signal) : undefined
  },
  async run(ctx) {
    const { arch, bootMount } = await ctx.workspace.imageInfo()
    await checkEmulation(arch)
    const scratch = join(ctx.dir, 'scratch')
    await mkdir(scratch, { recursive: true })
    ctx.cleanup.defer(`remove ${scratch}`, () => rm(scratch, { recursive: true, force: true }))
    const chain = chainDir(ctx.workspace.dir)
    const links = await chainOf(chain, ctx.recipe.customize, { parent: ctx.parent, version: customize.version, upgrade: ctx.options.upgrade, epoch: epochSetting({ recipe: ctx.recipe }) })
    // Fresh package lists (--refresh, --upgrade) count from the first step that reads them on.
    const refresh = ctx.options.refresh || ctx.options.upgrade
    const fresh = refresh ? links.findIndex((link) => link.upgrade || link.steps.some((step) => step.kind === 'packages')) : -1
    const rerunFrom = ctx.forced ? 0 : fresh >= 0 ? fresh : links.length
    const timings: string[] = []
    const done: Link[] = []
    let succeeded = false
    let epoch: Epoch | undefined
    try {
      let running = false
      for (const [index, link] of links.entries()) {
        ctx.signal.throwIfAborted()
        if (!running && index < rerunFrom) {
          const problem = await linkProblem(link)
          if (!problem) {
            for (const step of link.steps) ctx.emit({ type: 'step', stage: 'customize', step: describeStep(step), cached: true })
            done.push(link)
            continue
          }
          if (!/never finished/.test(problem)) ctx.emit({ type: 'warning', stage: 'customize', message: `the cached layer of ${link.steps.map(headline).join(', ')} is built again: ${problem}` })
        }
        running = true
        await runLink(ctx, link, done, { arch, bootMount, scratch, refresh, epoch: (epoch ??= await buildEpoch(ctx)).seconds }, timings)
        done.push(link)
      }
      await ctx.workspace.setOutputLayers('customize', links.map((link) => link.dir))
      succeeded = true
    } finally {
      await pruneChains(chain, done, succeeded)
    }
    const reused = links.length - timings.length
    ctx.emit({ type: 'info', stage: 'customize', message: `${arch} steps took ${timings.join('; ') || 'nothing'}${reused ? `; ${reused} cached layer${reused === 1 ? '' : 's'} reused` : ''}` })
  },
}

interface RunOptions {
  readonly arch: Arch
  readonly bootMount: BootTree['mount']
  readonly scratch: string
  readonly refresh: boolean
  /** SOURCE_DATE_EPOCH, for the commands' environment. */
  readonly epoch: number
}

/** Runs the link's steps in a new layer over the links `below`, then seals it. */
async function runLink(ctx: LayerContext, link: Link, below: readonly Link[], options: RunOptions, timings: string[]): Promise<void> {
  await startLink(link)
  const views = ctx.cleanup.child()
  try {
    const { root, boot } = await ctx.workspace.mountLayer('customize', views, { layer: link.dir, over: below.map((l) => l.dir) })
    const steps = stepContext({
      root,
      boot: { dir: boot, mount: options.bootMount },
      arch: options.arch,
      cacheDir: ctx.workspace.cache,
      // An upgrade fetches fresh lists anyway: the recipe's packages come from them too.
      refresh: options.refresh,
      epoch: options.epoch,
      scratch: options.scratch,
      signal: ctx.signal,
      log: (line) => ctx.emit({ type: 'log', stage: 'customize', line }),
      info: (message) => ctx.emit({ type: 'info', stage: 'customize', message }),
    })
    for (const step of link.steps) {
      ctx.signal.throwIfAborted()
      ctx.emit({ type: 'step', stage: 'customize', step: describeStep(step) })
      const started = Date.now()
      await runStep(step, steps).catch((error: unknown) => {
        throw stepError(step, error)
      })
      timings.push(`${headline(step)}: ${((Date.now() - started) / 1000).toFixed(1)} s`)
    }
    if (link.upgrade) {
      ctx.emit({ type: 'step', stage: 'customize', step: 'apt-get dist-upgrade (--upgrade)' })
      const started = Date.now()
      const archives = await upgradeImage(steps, ctx.dir)
      timings.push(`dist-upgrade: ${((Date.now() - started) / 1000).toFixed(1)} s`)
      ctx.emit({ type: 'info', stage: 'customize', message: `upgraded from ${archives.length} apt archive${archives.length === 1 ? '' : 's'}: ${archives.map((a) => a.url).join(', ')}` })
    }
  } catch (error) {
    await views.run()
    await rm(link.dir, { recursive: true, force: true })
    throw error
  }
  const errors = await views.run()
  if (errors.length) throw errors[0]
  await dropClockTraces(link.dir)
  await clampLayer(ctx, 'customize', link.dir, TREES, options.epoch)
  await finishLink(link, describeStep)
}

/** The image's architecture when the extract stage has found it already (its result is cached). */
async function knownArch(ctx: StageContext): Promise<'arm64' | 'armhf' | undefined> {
  return ctx.workspace.imageInfo().then((info) => info.arch, () => undefined)
}
