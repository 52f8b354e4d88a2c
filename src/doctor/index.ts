/** `pibake doctor`: every host prerequisite of a build (or of one recipe), with what fixes each. */
import { PreflightError } from '../errors.ts'
import type { Recipe } from '../recipe/types.ts'
import { CHECKS } from './checks.ts'
import type { CheckResult, DoctorContext } from './types.ts'

export type { CheckResult, CheckStatus, DoctorContext } from './types.ts'

/** Runs every check; `recipe` narrows them to what it needs. Changes nothing on the host. */
export async function doctor(options: { outDir: string; recipe?: Recipe; proc?: string; binfmt?: string; uid?: number }): Promise<CheckResult[]> {
  const ctx: DoctorContext = {
    outDir: options.outDir,
    proc: options.proc ?? '/proc',
    binfmt: options.binfmt ?? '/proc/sys/fs/binfmt_misc',
    uid: options.uid ?? process.getuid?.() ?? 0,
    ...(options.recipe ? { recipe: options.recipe } : {}),
  }
  const results: CheckResult[] = []
  for (const check of CHECKS) results.push(...(await check(ctx)))
  return results
}

/** What build and plan run first: every check, and a PreflightError naming each missing prerequisite and its fix. */
export async function requireHost(recipe: Recipe, outDir: string): Promise<CheckResult[]> {
  const results = await doctor({ recipe, outDir })
  const missing = results.filter((r) => r.status === 'missing')
  if (missing.length) {
    throw new PreflightError(
      `this host lacks what the build needs:\n${missing.map((r) => `  - ${r.name}: ${r.detail}`).join('\n')}`,
      `${missing.map((r) => r.fix).filter(Boolean).join('; ')} (pibake doctor lists every check)`,
    )
  }
  return results
}
