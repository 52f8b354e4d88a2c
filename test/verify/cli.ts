/** This checkout's `pibake`, run with arguments; its exit status and output, whatever the status. */
import { join } from 'node:path'
import { exec } from '../../src/system/exec.ts'

const CLI = join(import.meta.dirname, '../../src/cli.ts')

export async function pibakeOutput(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await exec([process.execPath, '--conditions=pibake-source', CLI, ...args], { okCodes: [1, 2] })
  return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr }
}
