/** du: how many bytes a tree takes on its filesystem. */
import { exec } from './exec.ts'

/** Bytes allocated to a tree (one filesystem; hard links counted once). */
export async function treeBytes(dir: string, signal?: AbortSignal): Promise<number> {
  const { stdout } = await exec(['du', '-s', '-x', '--block-size=1', dir], { signal })
  return Number(stdout.split(/\s/)[0])
}
