/** What every customisation step gets: the image's root, where caches go, and a way to run commands in the image. */
import { lstat } from 'node:fs/promises'
import type { ExecResult } from '../system/exec.ts'
import { inRoot, type Arch, type Bind, type InRootOptions } from '../system/chroot.ts'
import { resolveInRoot } from '../system/inroot.ts'

/** The boot partition's files (a folder on the host) and where the image mounts them (`/boot/firmware`). */
export interface BootTree {
  readonly dir: string
  readonly mount: '/boot/firmware' | '/boot'
}

export interface StepContext {
  /** The image's root, writable (the customize stage's overlay view). */
  readonly root: string
  /** The boot partition, writable; commands see it at its mount point, as on a running Pi. */
  readonly boot?: BootTree
  readonly arch: Arch
  /** `<out>/cache`: what outlives builds (apt's downloads and lists). */
  readonly cacheDir: string
  /** `--refresh`: fetch package lists even when the cached ones would do. */
  readonly refresh: boolean
  /**
   * The build's SOURCE_DATE_EPOCH (seconds): every command in the image gets it in its environment,
   * so that the tools that honour it (useradd's and chpasswd's dates in /etc/shadow, Python's
   * byte-code, …) write it instead of the clock.
   */
  readonly epoch?: number
  /** A folder on the host for a step's temporary files (outside the image). */
  readonly scratch: string
  readonly signal: AbortSignal
  /** One line of a command's output, shown under the step. */
  log(line: string): void
  /** A remark about the step (what was reused, what was kept). */
  info(message: string): void
  /** Runs `argv` in the image (see `inRoot`), its output streamed as log lines. */
  run(argv: readonly string[], options?: InRootOptions): Promise<ExecResult>
}

/** Everything a step context holds but its `run`, which is made from it. */
export type StepContextOptions = Omit<StepContext, 'run'>

export function stepContext(options: StepContextOptions): StepContext {
  let bootBinds: Promise<Bind[]> | undefined
  return {
    ...options,
    run: async (argv, runOptions = {}) => {
      bootBinds ??= bootBind(options.root, options.boot)
      return inRoot(options.root, argv, {
        ...runOptions,
        env: { ...(options.epoch === undefined ? {} : { SOURCE_DATE_EPOCH: String(options.epoch) }), ...runOptions.env },
        binds: [...(await bootBinds), ...(runOptions.binds ?? [])],
        signal: options.signal,
        onLine: (line, stream) => {
          options.log(line)
          runOptions.onLine?.(line, stream)
        },
      })
    },
  }
}

/** The boot partition mounted where the image expects it, so that a package or a command writing there writes to it. */
async function bootBind(root: string, boot: BootTree | undefined): Promise<Bind[]> {
  if (!boot) return []
  const mountPoint = await lstat(await resolveInRoot(root, boot.mount, { followLast: true })).catch(() => undefined)
  return mountPoint?.isDirectory() ? [{ source: boot.dir, target: boot.mount }] : []
}

/**
 * Where a path of the running system is on this host: below the boot partition's mount point it is
 * in the boot tree, anywhere else in the root. The path is then resolved inside that tree.
 */
export function treeOf(ctx: StepContext, path: string): { readonly tree: string; readonly path: string } {
  const mount = ctx.boot?.mount
  if (ctx.boot && mount && (path === mount || path.startsWith(`${mount}/`))) return { tree: ctx.boot.dir, path: path.slice(mount.length) || '/' }
  return { tree: ctx.root, path }
}
