/**
 * GNU tar, to make the device nodes and FIFOs of an unpacked root (Node cannot make them): a small
 * archive of only those is extracted by one process, where mknod would take one process per node.
 */
import { exec } from './exec.ts'

/**
 * Extracts `archive` (the bytes of a tar archive) into `dir`, refusing to replace anything already
 * there. Owners and modes are left as an unprivileged extraction makes them: the caller sets them.
 */
export async function extractTar(dir: string, archive: Buffer, signal?: AbortSignal): Promise<void> {
  await exec(['tar', '--extract', '--file=-', `--directory=${dir}`, '--keep-old-files', '--no-same-owner', '--no-same-permissions'], {
    input: archive,
    signal,
    hint: 'tar makes device nodes, which need root and a file system mounted without nodev',
  })
}
