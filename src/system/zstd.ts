/** zstd, as a filter between a tar stream and a `.tar.zst` file. */
import { execStream, type StreamedCommand } from './exec.ts'

/**
 * Compresses its stdin into `file` as `tar --zstd` does: level 3, one worker thread beside the
 * reading one (zstd's default), so that an export compares with GNU tar on the same terms. The
 * bytes are the same with any number of workers from one on, and so was the CPU time measured on
 * the demo build's tar stream (3.3-3.8 s of user time either way, alternated at load 8-9).
 */
export function zstdCompress(file: string, signal?: AbortSignal): StreamedCommand {
  return execStream(['zstd', '--quiet', '--threads=1', '-3', '--stdout'], { stdoutFile: file, signal, hint: 'a full disk fails here too: check `df -h`' })
}

/** Decompresses its stdin (the contents of `file`, which errors name) to its stdout. */
export function zstdDecompress(file: string, signal?: AbortSignal): StreamedCommand {
  return execStream(['zstd', '--quiet', '--decompress', '--stdout'], { signal, hint: `${file} is not a complete zstd file: download or export it again` })
}
