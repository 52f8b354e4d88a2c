import { plan } from '../build.ts'
import { join } from 'node:path'
import { imagePlan } from '../roots/verify.ts'
import { oneArgument, outDir, type Values } from './commands.ts'

export async function planCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  const result = await plan(oneArgument(args, 'one recipe file'), { outDir: outDir(values), signal, refresh: values.refresh, upgrade: values.upgrade })
  const image = await imagePlan(result.recipe, join(outDir(values), 'cache'))
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ recipe: result.recipe.name, stages: result.stages, ...(image ? { rootImageBytes: image.bytes ?? null } : {}) })}\n`)
    return 0
  }
  for (const stage of result.stages) {
    process.stdout.write(`${stage.name.padEnd(9)} ${stage.status.padEnd(7)} ${stage.reason === stage.status ? '' : stage.reason}\n`)
  }
  if (image) process.stdout.write(`${image.line}\n`)
  return 0
}
