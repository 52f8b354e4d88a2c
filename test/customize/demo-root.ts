/**
 * The demo image's root as a writable tree for tests of emulation: the image's root partition
 * mounted read-only, under a throw-away overlayfs layer (as the customize stage sees it).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'uvu'
import { stepContext, type StepContext } from '../../src/customize/context.ts'
import { runStep } from '../../src/customize/steps.ts'
import { buildDemoImage, type DemoRelease } from '../../src/demo/build.ts'
import type { CustomizeStep } from '../../src/recipe/types.ts'
import { Cleanup } from '../../src/system/cleanup.ts'
import { attachLoop } from '../../src/system/losetup.ts'
import { mount, mountOverlay } from '../../src/system/mount.ts'
import { bootAndRoot, readPartitionTable } from '../../src/system/partitions.ts'
import { takeSnapshot, type Snapshot } from '../../src/snapshot/index.ts'
import { heldByAnotherProgram } from '../helpers/leftovers.ts'

export const REPO = join(import.meta.dirname, '../..')
/** Where the demo images are built once and reused (`pibake demo-image`'s default). */
export const DEMO_DIR = join(REPO, 'out/demo')

export interface DemoRoot {
  readonly dir: string
  /** The writable view: the image's root with a fresh layer on top. */
  readonly root: string
  /** The image's root partition itself, mounted read-only. */
  readonly base: string
  /** A new empty layer: the tree as the image has it again. */
  reset(): Promise<void>
  /**
   * Unmounts and detaches everything, each undo tried even when one before it failed, then throws
   * what could not be undone. Forgiven (a note): a loop device only another program's mount namespace
   * still holds (see leftBehind). The folder is kept when a mount could not be undone.
   */
  remove(): Promise<void>
}

export async function demoImage(arch: 'arm64' | 'armhf', release: DemoRelease = 'bookworm') {
  return buildDemoImage({ arch, release, outDir: DEMO_DIR })
}

export async function mountDemoRoot(arch: 'arm64' | 'armhf', release: DemoRelease = 'bookworm'): Promise<DemoRoot> {
  const image = await demoImage(arch, release)
  const dir = await mkdtemp(join(tmpdir(), `pibake-demo-root-${arch}-`))
  const cleanup = new Cleanup()
  const base = join(dir, 'base')
  const root = join(dir, 'root')
  let layer: Cleanup | undefined
  let device: string | undefined
  const reset = async () => {
    await layer?.run()
    layer = new Cleanup()
    await rm(join(dir, 'layer'), { recursive: true, force: true })
    await mkdir(join(dir, 'layer/upper'), { recursive: true })
    await mkdir(join(dir, 'layer/work'), { recursive: true })
    await mountOverlay(layer, root, { lower: [base], upper: join(dir, 'layer/upper'), work: join(dir, 'layer/work') })
  }
  try {
    const { root: partition } = bootAndRoot(await readPartitionTable(image.img), image.img)
    device = await attachLoop(cleanup, image.img, { offset: partition.offset, sizelimit: partition.size, readOnly: true })
    await mount(cleanup, device, base, { type: 'ext4', options: ['ro', 'noload'] })
    await reset()
  } catch (error) {
    await cleanup.run()
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  const remove = async () => {
    const errors = [...((await layer?.run()) ?? []), ...(await cleanup.run())]
    const failed: Error[] = []
    for (const error of errors) {
      const note = error.message.startsWith(`cleanup: detach ${device}:`) ? await heldByAnotherProgram(device!, dir) : undefined
      if (note) console.log(`  note: ${device} (${image.img}) is detached, ${note}`)
      else failed.push(error)
    }
    const mounted = failed.some((error) => error.message.startsWith('cleanup: unmount '))
    if (!mounted) await rm(dir, { recursive: true, force: true })
    if (failed.length) throw new Error(`the demo root in ${dir} could not be undone${mounted ? ' (the folder is kept)' : ''}:\n${failed.map((e) => e.message).join('\n')}`)
  }
  return { dir, root, base, reset, remove }
}

/** A snapshot of the demo image's root (as snapshotImage takes one); a failed undo fails it (see DemoRoot.remove). */
export async function snapshotDemoRoot(arch: 'arm64' | 'armhf', release: DemoRelease = 'bookworm'): Promise<Snapshot> {
  const demo = await mountDemoRoot(arch, release)
  const snapshot = await takeSnapshot(demo.base).catch(async (error: unknown) => {
    await demo.remove().catch((undo: Error) => console.log(`  also: ${undo.message}`))
    throw error
  })
  await demo.remove()
  return snapshot
}

/** The step suites' fixture: a demo root (a fresh layer per test), a step context on it, its messages. */
export interface StepsOnDemo {
  /** A folder of this machine for the test's own files (the step context's scratch and apt cache). */
  readonly host: () => string
  readonly infos: string[]
  /** Runs one step, as the recipe's first, in the demo root. */
  step(fields: Record<string, unknown>): ReturnType<typeof runStep>
  /** A path inside the demo root. */
  inImage(path: string): string
  /** A fresh layer (and no messages) within a test, as before each test. */
  reset(): Promise<void>
}

/** Registers the suite's hooks: mount the demo root once, a fresh layer before each test, all undone after. */
export function stepsOnDemo(suite: Test, release: DemoRelease = 'bookworm'): StepsOnDemo {
  let demo: DemoRoot
  let ctx: StepContext
  let host: string
  const infos: string[] = []
  const at = { file: '/srv/recipe.ts', line: 1 }
  suite.before(async () => {
    demo = await mountDemoRoot('arm64', release)
    host = await mkdtemp(join(tmpdir(), `pibake-steps-${release}-`))
    const options = { root: demo.root, arch: 'arm64' as const, cacheDir: join(host, 'cache'), refresh: false, scratch: host, signal: new AbortController().signal }
    ctx = stepContext({ ...options, log: () => {}, info: (message) => infos.push(message) })
  })
  suite.after(async () => {
    await rm(host, { recursive: true, force: true })
    await demo.remove()
  })
  const reset = async () => {
    await demo.reset()
    infos.length = 0
  }
  suite.before.each(reset)
  return {
    host: () => host,
    infos,
    step: (fields) => runStep({ index: 0, at, ...fields } as CustomizeStep, ctx),
    inImage: (path) => join(demo.root, path),
    reset,
  }
}
