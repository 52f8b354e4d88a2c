/**
 * customize: runs the recipe's `customize` steps in order inside the image's root, under qemu-user
 * emulation (see system/chroot.ts), with the boot partition's files at their mount point (so that a
 * kernel upgrade or an edit of /boot/firmware/config.txt reaches the boot files). Each step is a sub-task with its output streamed under it; a
 * failing step names itself, its recipe line, its command and its last output lines, and the
 * runner throws the stage's layer away.
 */
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Stage, StageContext } from '../pipeline/stage.ts'
import { checkEmulation } from '../system/chroot.ts'
import { requirePrograms } from '../system/preflight.ts'
import { stepContext } from '../customize/context.ts'
import { describeStep, headline, stepError } from '../customize/describe.ts'
import { runStep, stepInputs } from '../customize/steps.ts'
import { archivesChanged, upgradeImage } from '../customize/upgrade.ts'

export const customize: Stage = {
  name: 'customize',
  kind: 'layer',
  version: 1,
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
  /** `--upgrade`: the cached result stands while none of the image's apt archives changed (see customize/upgrade.ts). */
  async stale(ctx) {
    return ctx.options.upgrade ? archivesChanged(ctx.workspace.stageDir('customize'), ctx.signal) : undefined
  },
  async run(ctx) {
    const { arch, bootMount } = await ctx.workspace.imageInfo()
    await checkEmulation(arch)
    const scratch = join(ctx.dir, 'scratch')
    await mkdir(scratch, { recursive: true })
    ctx.cleanup.defer(`remove ${scratch}`, () => rm(scratch, { recursive: true, force: true }))
    const steps = stepContext({
      root: ctx.root,
      boot: { dir: ctx.boot, mount: bootMount },
      arch,
      cacheDir: ctx.workspace.cache,
      // An upgrade fetches fresh lists anyway: the recipe's packages come from them too.
      refresh: ctx.options.refresh || ctx.options.upgrade,
      scratch,
      signal: ctx.signal,
      log: (line) => ctx.emit({ type: 'log', stage: 'customize', line }),
      info: (message) => ctx.emit({ type: 'info', stage: 'customize', message }),
    })
    const timings: string[] = []
    for (const step of ctx.recipe.customize) {
      ctx.signal.throwIfAborted()
      ctx.emit({ type: 'step', stage: 'customize', step: describeStep(step) })
      const started = Date.now()
      await runStep(step, steps).catch((error: unknown) => {
        throw stepError(step, error)
      })
      timings.push(`${headline(step)}: ${((Date.now() - started) / 1000).toFixed(1)} s`)
    }
    if (ctx.options.upgrade) {
      ctx.emit({ type: 'step', stage: 'customize', step: 'apt-get dist-upgrade (--upgrade)' })
      const started = Date.now()
      const archives = await upgradeImage(steps, ctx.dir)
      timings.push(`dist-upgrade: ${((Date.now() - started) / 1000).toFixed(1)} s`)
      ctx.emit({ type: 'info', stage: 'customize', message: `upgraded from ${archives.length} apt archive${archives.length === 1 ? '' : 's'}: ${archives.map((a) => a.url).join(', ')}` })
    }
    ctx.emit({ type: 'info', stage: 'customize', message: `${arch} steps took ${timings.join('; ')}` })
  },
}

/** The image's architecture when the extract stage has found it already (its result is cached). */
async function knownArch(ctx: StageContext): Promise<'arm64' | 'armhf' | undefined> {
  return ctx.workspace.imageInfo().then((info) => info.arch, () => undefined)
}
