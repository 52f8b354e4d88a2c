/**
 * The build's working directories under `<out>/work/<recipe>/`, and the views of the tree that
 * stages see: the image's root partition mounted read-only as the base, each layer stage's output
 * an overlayfs upper directory stacked on the ones below it.
 */
import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Cleanup } from '../system/cleanup.ts'
import { attachLoop } from '../system/losetup.ts'
import { mount, mountOverlay } from '../system/mount.ts'
import { PibakeError } from '../errors.ts'

/** What the extract stage learned about the image (stored as `info.json` in its directory). */
export interface ImageInfo {
  readonly image: string
  readonly arch: 'arm64' | 'armhf'
  /** Where the boot partition is mounted in the image: `/boot/firmware` (Bookworm) or `/boot`. */
  readonly bootMount: '/boot/firmware' | '/boot'
  readonly boot: { readonly offset: number; readonly size: number }
  readonly root: { readonly offset: number; readonly size: number }
  readonly partuuids: { readonly boot?: string; readonly root?: string }
}

/** Where running builds list their host effects for `pibake clean`. */
export function journalDir(out: string): string {
  return join(out, 'work', '.runs')
}

export class Workspace {
  /** `<out>`: caches, work trees, logs, default publish targets. */
  readonly out: string
  /** `<out>/work/<recipe>`. */
  readonly dir: string
  /** Names of the layer stages of this build, bottom first. */
  layers: string[] = []
  #base: Promise<string> | undefined

  readonly #cleanup: Cleanup
  readonly #signal: AbortSignal

  /** `cleanup` undoes the run-wide effects (the base mount) when the build ends. */
  constructor(out: string, recipeName: string, cleanup: Cleanup, signal: AbortSignal) {
    this.out = out
    this.dir = join(out, 'work', recipeName)
    this.#cleanup = cleanup
    this.#signal = signal
  }

  get cache(): string {
    return join(this.out, 'cache')
  }

  stageDir(stage: string): string {
    return join(this.dir, 'stages', stage)
  }

  mountPoint(name: string): string {
    return join(this.dir, 'mnt', name)
  }

  async imageInfo(): Promise<ImageInfo> {
    try {
      return JSON.parse(await readFile(join(this.stageDir('extract'), 'info.json'), 'utf8')) as ImageInfo
    } catch {
      throw new PibakeError('the extract stage has no result yet', 'run `pibake build` without skipping extract')
    }
  }

  /** The image's root partition, mounted read-only once per run. */
  base(): Promise<string> {
    this.#base ??= this.#mountBase(this.#cleanup, this.#signal)
    return this.#base
  }

  async #mountBase(cleanup: Cleanup, signal: AbortSignal): Promise<string> {
    const info = await this.imageInfo()
    const device = await attachLoop(cleanup, info.image, { ...info.root, sizelimit: info.root.size, readOnly: true, signal })
    const target = this.mountPoint('base')
    await mount(cleanup, device, target, { type: 'ext4', options: ['ro', 'noload'], signal })
    return target
  }

  /** Lower directories (top first) for the tree `which` as seen by the layer stage `stage`. */
  async lowers(which: 'root' | 'boot', below: number): Promise<string[]> {
    const uppers = this.layers.slice(0, below).map((name) => join(this.stageDir(name), which)).reverse()
    const bottom = which === 'root' ? await this.base() : join(this.stageDir('extract'), 'boot')
    return [...uppers, bottom]
  }

  /** Mounts the writable views for layer stage `stage`; `cleanup` (the stage's own) unmounts them. */
  async mountLayer(stage: string, cleanup: Cleanup): Promise<{ root: string; boot: string }> {
    const signal = this.#signal
    const index = this.layers.indexOf(stage)
    const dir = this.stageDir(stage)
    const views = { root: this.mountPoint(`${stage}-root`), boot: this.mountPoint(`${stage}-boot`) }
    for (const which of ['root', 'boot'] as const) {
      const upper = join(dir, which)
      const work = join(dir, '.work', which)
      await mkdir(upper, { recursive: true })
      await mkdir(work, { recursive: true })
      await mountOverlay(cleanup, views[which], { lower: await this.lowers(which, index), upper, work }, signal)
    }
    return views
  }

  /** Mounts read-only views of the finished trees (every layer) and returns their paths. */
  async mountFinal(cleanup: Cleanup): Promise<{ root: string; boot: string }> {
    const signal = this.#signal
    const views = { root: this.mountPoint('final-root'), boot: this.mountPoint('final-boot') }
    for (const which of ['root', 'boot'] as const) {
      await mountOverlay(cleanup, views[which], { lower: await this.lowers(which, this.layers.length) }, signal)
    }
    return views
  }

  async resetStage(stage: string): Promise<string> {
    const dir = this.stageDir(stage)
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
    return dir
  }
}
