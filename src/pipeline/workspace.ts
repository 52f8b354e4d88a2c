/**
 * The build's working directories under `<out>/work/<recipe>/`, and the views of the tree that
 * stages see: the image's root partition mounted read-only as the base, each layer stage's output
 * an overlayfs upper directory stacked on the ones below it.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
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
  /** A root unpacked from a tarball (a folder of the cache): the base as it is, instead of the image's root partition. */
  readonly tree?: string
}

/** In a layer stage's folder: the chain of layer folders its output is made of, when it is not the folder itself. */
const LAYERS = 'layers.json'

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
    if (info.tree) return info.tree
    const device = await attachLoop(cleanup, info.image, { ...info.root, sizelimit: info.root.size, readOnly: true, signal })
    const target = this.mountPoint('base')
    await mount(cleanup, device, target, { type: 'ext4', options: ['ro', 'noload'], signal })
    return target
  }

  /**
   * The layer folders (each holding `root/` and `boot/`) that a layer stage's output is made of,
   * bottom first: the stage's own folder, or the chain it listed (see `setOutputLayers`).
   */
  async outputLayers(stage: string): Promise<string[]> {
    const listed = await readFile(join(this.stageDir(stage), LAYERS), 'utf8').then((text) => JSON.parse(text) as { layers: string[] }, () => undefined)
    return listed ? listed.layers.map((layer) => join(this.dir, layer)) : [this.stageDir(stage)]
  }

  /** Records that the output of `stage` is the chain of layer folders `layers` (bottom first, below this workspace's folder). */
  async setOutputLayers(stage: string, layers: readonly string[]): Promise<void> {
    const names = layers.map((layer) => relative(this.dir, layer))
    if (names.some((name) => name.startsWith('..'))) throw new Error(`the layers of ${stage} must be below ${this.dir}`)
    await writeFile(join(this.stageDir(stage), LAYERS), `${JSON.stringify({ layers: names }, null, 2)}\n`)
  }

  /** Lower directories (top first) for the tree `which` as seen by the layer stage at `below`, with `over` (bottom first) on top. */
  async lowers(which: 'root' | 'boot', below: number, over: readonly string[] = []): Promise<string[]> {
    const layers: string[] = []
    for (const name of this.layers.slice(0, below)) layers.push(...(await this.outputLayers(name)))
    const uppers = [...layers, ...over].map((layer) => join(layer, which)).reverse()
    const bottom = which === 'root' ? await this.base() : join(this.stageDir('extract'), 'boot')
    return [...uppers, bottom]
  }

  /**
   * Mounts the writable views for layer stage `stage`; `cleanup` (the stage's own) unmounts them.
   * They write into the stage's folder, or into `layer` over the layers `over` (bottom first) when
   * the stage makes a chain of layers.
   */
  async mountLayer(stage: string, cleanup: Cleanup, chain: { readonly layer: string; readonly over: readonly string[] } = { layer: this.stageDir(stage), over: [] }): Promise<{ root: string; boot: string }> {
    const signal = this.#signal
    const index = this.layers.indexOf(stage)
    const dir = chain.layer
    const views = { root: this.mountPoint(`${stage}-root`), boot: this.mountPoint(`${stage}-boot`) }
    for (const which of ['root', 'boot'] as const) {
      const upper = join(dir, which)
      const work = join(dir, '.work', which)
      await mkdir(upper, { recursive: true })
      await mkdir(work, { recursive: true })
      await mountOverlay(cleanup, views[which], { lower: await this.lowers(which, index, chain.over), upper, work, relativeTo: this.dir }, signal)
    }
    return views
  }

  /** Mounts read-only views of the finished trees (every layer) and returns their paths. */
  async mountFinal(cleanup: Cleanup): Promise<{ root: string; boot: string }> {
    const signal = this.#signal
    const views = { root: this.mountPoint('final-root'), boot: this.mountPoint('final-boot') }
    for (const which of ['root', 'boot'] as const) {
      await mountOverlay(cleanup, views[which], { lower: await this.lowers(which, this.layers.length), relativeTo: this.dir }, signal)
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
