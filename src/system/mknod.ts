/** mknod, for the device nodes and FIFOs of an unpacked root (Node cannot make them). */
import { exec } from './exec.ts'

export type NodeKind = 'char' | 'block' | 'fifo'

const LETTER: Record<NodeKind, string> = { char: 'c', block: 'b', fifo: 'p' }

/** Makes the node `path` (which must not exist) with `mode`'s permission bits. */
export async function mknod(path: string, kind: NodeKind, mode: number, device?: { major: number; minor: number }, signal?: AbortSignal): Promise<void> {
  const numbers = kind === 'fifo' ? [] : [String(device?.major ?? 0), String(device?.minor ?? 0)]
  await exec(['mknod', `--mode=${(mode & 0o7777).toString(8)}`, '--', path, LETTER[kind], ...numbers], { signal, hint: 'device nodes need root, and a file system mounted without nodev' })
}
