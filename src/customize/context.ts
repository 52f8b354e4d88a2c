/** What every customisation step gets: the image's root, where caches go, and a way to run commands in the image. */
import type { ExecResult } from '../system/exec.ts'
import { inRoot, type Arch, type InRootOptions } from '../system/chroot.ts'

export interface StepContext {
  /** The image's root, writable (the customize stage's overlay view). */
  readonly root: string
  readonly arch: Arch
  /** `<out>/cache`: what outlives builds (apt's downloads and lists). */
  readonly cacheDir: string
  /** `--refresh`: fetch package lists even when the cached ones would do. */
  readonly refresh: boolean
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

export interface StepContextOptions {
  readonly root: string
  readonly arch: Arch
  readonly cacheDir: string
  readonly refresh: boolean
  readonly scratch: string
  readonly signal: AbortSignal
  readonly log: (line: string) => void
  readonly info: (message: string) => void
}

export function stepContext(options: StepContextOptions): StepContext {
  return {
    ...options,
    run: (argv, runOptions = {}) =>
      inRoot(options.root, argv, {
        ...runOptions,
        signal: options.signal,
        onLine: (line, stream) => {
          options.log(line)
          runOptions.onLine?.(line, stream)
        },
      }),
  }
}
