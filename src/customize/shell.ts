/**
 * `run` and `script` steps: a user's shell line (always as `sh -euc <line>`), or a script from the
 * recipe's folder, copied into the command's own `/run` (a tmpfs that vanishes with it) and run there.
 */
import { chmod, copyFile, mkdtemp, open, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { RunStep, ScriptStep } from '../recipe/types.ts'
import { shellLine } from '../system/chroot.ts'
import type { StepContext } from './context.ts'

export async function runShellLine(step: RunStep, ctx: StepContext): Promise<void> {
  await ctx.run(shellLine(step.command))
}

const SCRIPT_DIR = '/run/pibake/script'

export async function runScript(step: ScriptStep, ctx: StepContext): Promise<void> {
  const dir = await mkdtemp(join(ctx.scratch, 'script-'))
  try {
    const name = basename(step.path)
    await copyFile(step.path, join(dir, name))
    await chmod(join(dir, name), 0o755)
    const inImage = `${SCRIPT_DIR}/${name}`
    const argv = (await hasShebang(step.path)) ? [inImage, ...step.args] : ['/bin/sh', inImage, ...step.args]
    await ctx.run(argv, { binds: [{ source: dir, target: SCRIPT_DIR, readOnly: true }] })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function hasShebang(file: string): Promise<boolean> {
  const handle = await open(file, 'r')
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0)
    return bytesRead === 2 && buffer.toString('latin1') === '#!'
  } finally {
    await handle.close()
  }
}
