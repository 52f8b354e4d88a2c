/** rsync, the one full copy of a build's tree, incremental against the previous build. */
import { exec } from './exec.ts'

export interface RsyncOptions {
  /** An earlier copy: unchanged files are hard-linked to it instead of copied. */
  readonly linkDest?: string
  /** Extra rsync arguments (e.g. `--chmod`). */
  readonly args?: readonly string[]
  readonly signal?: AbortSignal | undefined
  readonly onProgress?: (bytes: number, percent: number) => void
}

/** Arguments that keep everything a root filesystem carries: hard links, ACLs, xattrs (file capabilities), numeric owners. */
export const ROOTFS_ARGS = ['--archive', '--hard-links', '--acls', '--xattrs', '--numeric-ids', '--delete', '--sparse'] as const

/** Copies the contents of `source` into `dest` (both directories). */
export async function rsync(source: string, dest: string, options: RsyncOptions = {}): Promise<void> {
  const argv = ['rsync', ...(options.args ?? []), '--info=progress2', '--no-inc-recursive']
  if (options.linkDest) argv.push(`--link-dest=${options.linkDest}`)
  argv.push(`${source.replace(/\/$/, '')}/`, `${dest.replace(/\/$/, '')}/`)
  await exec(argv, {
    signal: options.signal,
    onLine: (line) => {
      const progress = parseProgress(line)
      if (progress) options.onProgress?.(progress.bytes, progress.percent)
    },
    hint: 'a full disk fails here too: check `df -h` on the destination',
  })
}

/** Reads rsync's `--info=progress2` line: `  1,234,567  45%  12.34MB/s  0:00:01 (xfr#…)`. */
export function parseProgress(line: string): { bytes: number; percent: number } | undefined {
  const match = /^\s*([\d,]+)\s+(\d+)%/.exec(line)
  if (!match) return undefined
  return { bytes: Number(match[1]!.replaceAll(',', '')), percent: Number(match[2]) }
}
