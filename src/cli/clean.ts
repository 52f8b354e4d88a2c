import { clean } from '../clean.ts'
import { outDir, type Values } from './commands.ts'

export async function cleanCommand(_args: readonly string[], values: Values): Promise<number> {
  const done = await clean(outDir(values))
  process.stderr.write(done.length ? `${done.map((line) => `pibake clean: ${line}`).join('\n')}\n` : 'pibake clean: nothing was left behind\n')
  return 0
}
