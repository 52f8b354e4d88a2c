import { plan } from '../build.ts'
import { pi3Clause } from '../netboot/pi3-split.ts'
import { linkBytesPerSecond, sizingLimits } from '../netboot/sizing.ts'
import { join } from 'node:path'
import { imagePlan } from '../roots/verify.ts'
import { bootPlan } from '../shrink/plan.ts'
import { oneArgument, outDir, type Values } from './commands.ts'

export async function planCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  const result = await plan(oneArgument(args, 'one recipe file'), { outDir: outDir(values), signal, refresh: values.refresh, upgrade: values.upgrade })
  const image = await imagePlan(result.recipe, join(outDir(values), 'cache'))
  const boot = await bootPlan(result.recipe, outDir(values), result.stages.filter((s) => s.status === 'skipped').map((s) => s.name))
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ recipe: result.recipe.name, stages: result.stages, ...(image ? { rootImageBytes: image.bytes ?? null } : {}), bootBytesPerNode: boot.models })}\n`)
    return 0
  }
  for (const stage of result.stages) {
    process.stdout.write(`${stage.name.padEnd(9)} ${stage.status.padEnd(7)} ${stage.reason === stage.status ? '' : stage.reason}\n`)
  }
  if (image) process.stdout.write(`${image.line}\n`)
  process.stdout.write(`${boot.line}\n`)
  // What dnsmasq cannot do for a fleet this size, however dnsmasq.conf is sized.
  // The bring-up time from the bytes the last build's nodes pull (the slots dnsmasq.conf is given stay the rendered ones).
  const nodes = boot.models.reduce((sum, m) => sum + m.nodes, 0)
  const link = result.recipe.netboot.bootLinkMbps
  const load = {
    ...(nodes ? { bytesPerNode: boot.models.reduce((sum, m) => sum + m.bytes * m.nodes, 0) / nodes } : {}),
    ...(link === undefined ? {} : { linkBytesPerSecond: linkBytesPerSecond(link) }),
  }
  const pi3 = pi3Clause(result.recipe.netboot, result.recipe.nodes, load)
  for (const note of sizingLimits(result.recipe.nodes.length, load, pi3)) process.stdout.write(`fleet     limit   ${note}\n`)
  return 0
}
