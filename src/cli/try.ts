/** `pibake try <recipe.ts> [NODE] [--command CMD | --console] [--timeout S] [--record-reads] [--out DIR]`: see src/try/. */
import { UsageError } from '../errors.ts'
import { loadRecipe } from '../recipe/load.ts'
import { tryNode } from '../try/index.ts'
import { outDir, type Values } from './commands.ts'

export async function tryCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  const [file, node, ...rest] = args
  if (!file || rest.length) throw new UsageError(`expected a recipe file and at most one node, got ${args.length ? args.join(' ') : 'nothing'}`, "pibake try recipes/cluster-node.ts node1 --command 'systemctl is-system-running --wait'")
  if (values.command !== undefined && values.console) throw new UsageError('--command and --console cannot go together', 'run a command, or attach the console')
  const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout)
  if (timeoutS !== undefined && !(Number.isInteger(timeoutS) && timeoutS > 0)) throw new UsageError(`--timeout ${values.timeout} is not a whole number of seconds`, '--timeout 900')
  const recipe = await loadRecipe(file, { outDir: outDir(values) })
  const result = await tryNode(recipe, {
    ...(node === undefined ? {} : { node }),
    ...(values.command === undefined ? {} : { command: values.command }),
    ...(values.console ? { console: true } : {}),
    ...(timeoutS === undefined ? {} : { timeoutS }),
    ...(values.recordReads ? { recordReads: true } : {}),
    signal,
  })
  return result.status
}
