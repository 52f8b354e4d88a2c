/** mksquashfs: a folder as one compressed, read-only image (a node's root, mounted through a loop device). */
import { exec } from './exec.ts'

export type SquashfsCompressor = 'zstd' | 'xz' | 'gzip'

export interface MksquashfsOptions {
  readonly compressor: SquashfsCompressor
  /**
   * The image's creation time (seconds since 1970): the build's SOURCE_DATE_EPOCH, so that the same
   * tree gives the same bytes. The files keep their own times.
   */
  readonly mkfsTime: number
  /**
   * mksquashfs's sort file (`path priority` per line, paths relative to `source`): higher priorities
   * first in the image. Without it, mksquashfs's own order (directory by directory).
   */
  readonly sortFile?: string | undefined
  readonly signal?: AbortSignal | undefined
  /** Files done of all, as the progress bar says them. */
  readonly onProgress?: (done: number, total: number) => void
}

/** Writes `source` (its owners, modes, times, xattrs, hard links and device nodes kept) as the image `dest`, replacing it. */
export async function mksquashfs(source: string, dest: string, options: MksquashfsOptions): Promise<void> {
  await exec(mksquashfsArgv(source, dest, options), {
    signal: options.signal,
    onLine: (line) => {
      // The progress bar, redrawn after each carriage return: `[====|   ] 1234/5678  21%`.
      const match = /(\d+)\/(\d+)\s+\d+%\s*$/.exec(line)
      if (match) options.onProgress?.(Number(match[1]), Number(match[2]))
    },
    hint: 'a full disk fails here too: check `df -h` on the build folder',
  })
}

/**
 * mksquashfs reads SOURCE_DATE_EPOCH from the environment, sets every file's time to it (not a
 * clamp: the tree's own times would be lost) and refuses it beside -mkfs-time: it runs without it.
 */
export function mksquashfsArgv(source: string, dest: string, options: Pick<MksquashfsOptions, 'compressor' | 'mkfsTime' | 'sortFile'>): string[] {
  const { compressor, mkfsTime, sortFile } = options
  if (!Number.isInteger(mkfsTime) || mkfsTime < 0 || mkfsTime > 0xffff_ffff) throw new Error(`mksquashfs: ${mkfsTime} is not a creation time (seconds since 1970, 32 bits)`)
  return [
    'env', '-u', 'SOURCE_DATE_EPOCH',
    'mksquashfs', source, dest, '-noappend', '-comp', compressor, '-xattrs', '-mkfs-time', String(mkfsTime),
    ...(compressor === 'xz' || compressor === 'zstd' ? ['-b', '1M'] : []),
    ...(sortFile === undefined ? [] : ['-sort', sortFile]),
  ]
}
