/** zstd, as a filter between a tar stream and a `.tar.zst` file. */
import { execStream, type StreamedCommand } from './exec.ts'

/** Compresses its stdin into `file` (level 3, as `tar --zstd`; a thread per core: the output is the same whatever their number). */
export function zstdCompress(file: string, signal?: AbortSignal): StreamedCommand {
  return execStream(['zstd', '--quiet', '--threads=0', '-3', '--stdout'], { stdoutFile: file, signal, hint: 'a full disk fails here too: check `df -h`' })
}

/** Decompresses its stdin (the contents of `file`, which errors name) to its stdout. */
export function zstdDecompress(file: string, signal?: AbortSignal): StreamedCommand {
  return execStream(['zstd', '--quiet', '--decompress', '--stdout'], { signal, hint: `${file} is not a complete zstd file: download or export it again` })
}
