/** `pibake doctor [recipe]`: the host's prerequisites, each with what fixes it; status 1 when one the recipe needs is missing. */
import { doctor, type CheckResult } from '../doctor/index.ts'
import { loadRecipe } from '../recipe/load.ts'
import { UsageError } from '../errors.ts'
import { outDir, type Values } from './commands.ts'

const MARK: Readonly<Record<CheckResult['status'], string>> = { ok: 'ok     ', missing: 'MISSING', warning: 'warning' }

export async function doctorCommand(args: readonly string[], values: Values): Promise<number> {
  if (args.length > 1) throw new UsageError(`expected at most one recipe file, got ${args.join(' ')}`)
  const out = outDir(values)
  const recipe = args[0] === undefined ? undefined : await loadRecipe(args[0], { outDir: out })
  const results = await doctor({ outDir: out, ...(recipe ? { recipe } : {}) })
  const missing = results.some((r) => r.status === 'missing')
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ recipe: recipe?.name ?? null, ok: !missing, checks: results })}\n`)
    return missing ? 1 : 0
  }
  const width = Math.max(...results.map((r) => r.name.length))
  for (const r of results) {
    process.stdout.write(`${MARK[r.status]}  ${r.name.padEnd(width)}  ${r.detail}\n${r.fix ? `${' '.repeat(width + 11)}fix: ${r.fix}\n` : ''}`)
  }
  process.stdout.write(missing ? `pibake doctor: something ${recipe ? `the recipe ${recipe.name}` : 'a build'} needs is missing\n` : 'pibake doctor: this host can build\n')
  return missing ? 1 : 0
}
