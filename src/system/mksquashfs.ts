/** mksquashfs: a folder as one compressed, read-only image (a node's root, mounted through a loop device). */
import { exec } from './exec.ts'

export type SquashfsCompressor = 'zstd' | 'xz' | 'gzip'

export interface MksquashfsOptions {
  readonly compressor: SquashfsCompressor
  readonly signal?: AbortSignal | undefined
  /** Files done of all, as the progress bar says them. */
  readonly onProgress?: (done: number, total: number) => void
}

/** Writes `source` (its owners, modes, xattrs, hard links and device nodes kept) as the image `dest`, replacing it. */
export async function mksquashfs(source: string, dest: string, options: MksquashfsOptions): Promise<void> {
  await exec(mksquashfsArgv(source, dest, options.compressor), {
    signal: options.signal,
    onLine: (line) => {
      // The progress bar, redrawn after each carriage return: `[====|   ] 1234/5678  21%`.
      const match = /(\d+)\/(\d+)\s+\d+%\s*$/.exec(line)
      if (match) options.onProgress?.(Number(match[1]), Number(match[2]))
    },
    hint: 'a full disk fails here too: check `df -h` on the build folder',
  })
}

export function mksquashfsArgv(source: string, dest: string, compressor: SquashfsCompressor): string[] {
  return ['mksquashfs', source, dest, '-noappend', '-comp', compressor, '-xattrs', ...(compressor === 'xz' || compressor === 'zstd' ? ['-b', '1M'] : [])]
}
