/** xz, as a filter between a tar stream and a `.tar.xz` file (images are decompressed by the image stage's own call). */
import { exec, execStream, type StreamedCommand } from './exec.ts'

/**
 * Compresses its stdin into `file`, a thread per core. xz 5.4 and later write the same blocks
 * whatever the number of threads (`--threads=0` is multi-threaded mode even on one core).
 */
export function xzCompress(file: string, signal?: AbortSignal): StreamedCommand {
  return execStream(['xz', '--compress', '--threads=0', '--stdout'], { stdoutFile: file, signal, hint: 'a full disk fails here too: check `df -h`' })
}

/** Decompresses its stdin (the contents of `file`, which errors name) to its stdout. */
export function xzDecompress(file: string, signal?: AbortSignal): StreamedCommand {
  return execStream(['xz', '--decompress', '--threads=0', '--stdout'], { signal, hint: `${file} is not a complete .xz file: download or export it again` })
}

/**
 * Compresses `input` into `output` as the Linux kernel's own xz decoder reads it (an initramfs):
 * CRC32 checks (it does not read xz's default CRC64), one thread (one block), the strongest preset.
 */
export async function xzForKernel(input: string, output: string, signal?: AbortSignal): Promise<void> {
  await exec(['xz', '--compress', '--format=xz', '--check=crc32', '-9', '--threads=1', '--stdout', input], { stdoutFile: output, signal, hint: 'a full disk fails here too: check `df -h`' })
}
