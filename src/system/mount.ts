/** Mounts, always made together with their unmount. */
import { mkdir, readFile } from 'node:fs/promises'
import { relative } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { exec } from './exec.ts'
import type { Cleanup } from './cleanup.ts'
import { CommandError } from '../errors.ts'

/** The kernel's limit on a mount's option text. */
const PAGE = 4096

export interface MountOptions {
  readonly type?: string
  readonly options?: readonly string[]
  readonly signal?: AbortSignal | undefined
  /** The folder mount(8) runs in: relative paths in `options` are resolved from it by the kernel. */
  readonly cwd?: string
}

export async function mount(cleanup: Cleanup, source: string, target: string, options: MountOptions = {}): Promise<void> {
  await mkdir(target, { recursive: true })
  const argv = ['mount']
  if (options.type) argv.push('-t', options.type)
  if (options.options?.length) argv.push('-o', options.options.join(','))
  argv.push(source, target)
  // Written down before it is made: a run killed the moment mount(8) returns leaves a mount its
  // journal names (undoing a mount that was never made does nothing).
  cleanup.defer(`unmount ${target}`, () => unmount(target), { kind: 'mount', target })
  // Never cancelled midway (a mount made by a killed mount(8) would not be undone): checked after.
  await exec(argv, options.cwd ? { cwd: options.cwd } : {})
  options.signal?.throwIfAborted()
}

/**
 * An overlayfs over `lower` (top first). Without `upper` the mount is read-only. With `relativeTo`,
 * the layers below that folder are named relative to it (mount(8) runs there): the kernel takes one
 * page (4 KiB) of mount options, which is some 45 absolute paths of a deep out folder, and three
 * times as many short relative ones (a chain of customize steps has a layer per step).
 */
export async function mountOverlay(
  cleanup: Cleanup,
  target: string,
  layers: { readonly lower: readonly string[]; readonly upper?: string; readonly work?: string; readonly relativeTo?: string },
  signal?: AbortSignal,
): Promise<void> {
  const base = layers.relativeTo
  const name = (path: string) => escapeOverlayPath(base && path.startsWith(`${base}/`) ? relative(base, path) : path)
  const options = [`lowerdir=${layers.lower.map(name).join(':')}`]
  if (layers.upper && layers.work) options.push(`upperdir=${name(layers.upper)}`, `workdir=${name(layers.work)}`)
  else if (layers.lower.length === 1) {
    // overlayfs needs two lower layers when there is no upper one: a read-only bind does the same.
    await mount(cleanup, layers.lower[0]!, target, { options: ['bind'], signal })
    await exec(['mount', '-o', 'remount,bind,ro', target])
    return
  }
  const text = options.join(',')
  if (Buffer.byteLength(text) >= PAGE) throw new Error(`overlayfs takes at most ${PAGE - 1} bytes of mount options; ${layers.lower.length} layers need ${Buffer.byteLength(text)}`)
  const where = { type: 'overlay', signal, ...(base ? { cwd: base } : {}) }
  if (layers.upper) {
    // Without `volatile`, unmounting a writable overlay syncs its upper filesystem, all of it (everyone's
    // writes on a shared disk): seconds per layer stage. A layer is kept only once its stage finished
    // and is sealed (its entries checked at every reuse), so a crash loses nothing that was trusted.
    // Kernels before 5.10 lack the option: mounted as before.
    const mounted = await mount(cleanup, 'overlay', target, { ...where, options: [...options, 'volatile'] }).then(() => true, (error: unknown) => (error instanceof CommandError ? false : Promise.reject(error)))
    if (mounted) return
  }
  await mount(cleanup, 'overlay', target, { ...where, options })
}

/** Unmounts `target`, retrying while it is busy (a process may still be leaving it). */
export async function unmount(target: string, attempts = 10): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await exec(['umount', target])
      return
    } catch (error) {
      if (!(await isMounted(target))) return
      if (attempt >= attempts || !(error instanceof CommandError) || !/busy/i.test(error.stderrTail)) throw error
      await sleep(200 * attempt)
    }
  }
}

/** Mount points at or below `prefix`, deepest first (the order to unmount them in). */
export async function mountsUnder(prefix: string): Promise<string[]> {
  const table = await readFile('/proc/self/mounts', 'utf8')
  const base = prefix.endsWith('/') ? prefix : `${prefix}/`
  return table
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((target): target is string => Boolean(target))
    .map(unescapeMountPath)
    .filter((target) => target === prefix || target.startsWith(base))
    .reverse()
}

/** The devices the mount table names as sources (`/dev/loop3`), in every mount of this namespace. */
export async function mountSources(): Promise<Set<string>> {
  const table = await readFile('/proc/self/mounts', 'utf8')
  return new Set(table.split('\n').map((line) => line.split(' ')[0] ?? '').filter((source) => source.startsWith('/dev/')))
}

export async function isMounted(target: string): Promise<boolean> {
  return (await mountsUnder(target)).includes(target)
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
}

function escapeOverlayPath(path: string): string {
  if (/[:,\n]/.test(path)) throw new Error(`overlayfs cannot take a path containing ':' or ',': ${path}`)
  return path
}
