/** `pibake rehearse [recipe…] [--nodes N|all] [--interface IF] [--ordinary-ports]`: a boot storm of the site's nodes that are not up. */
import { UsageError } from '../errors.ts'
import { loadRecipe } from '../recipe/load.ts'
import { rehearse } from '../rehearse/rehearse.ts'
import { formatReport } from '../rehearse/report.ts'
import { formatRootTotals } from '../rehearse/root-phase.ts'
import { outDir, type Values } from './commands.ts'

export async function rehearseCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  if (!args.length) throw new UsageError('pibake rehearse needs at least one recipe', 'pibake rehearse recipes/cluster-node.ts --interface eth0')
  if (!values.interface) throw new UsageError('pibake rehearse needs --interface', 'the interface on the boot LAN, e.g. --interface eth0')
  const nodes = parseNodes(values.nodes)
  const recipes = []
  for (const file of args) recipes.push(await loadRecipe(file, { outDir: outDir(values) }))
  const result = await rehearse({ recipes, nodes, interface: values.interface, reservedPorts: !values.ordinaryPorts, signal, onNote: (text) => process.stderr.write(`pibake: ${text}\n`) })
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } else {
    for (const skip of result.skipped) process.stdout.write(`left alone: ${skip.hostname} (${skip.why})\n`)
    if (!result.compared) process.stdout.write('files not compared with the published ones: the TFTP tree is not on this machine\n')
    for (const why of result.noRoot) process.stdout.write(`no root phase for ${why}\n`)
    process.stdout.write(`${[...formatReport(result.report, { failedNodes: 20 }), ...formatRootTotals(result.report)].join('\n')}\n`)
  }
  return result.report.totals.failed ? 1 : 0
}

function parseNodes(text: string | undefined): number | 'all' {
  if (text === undefined || text === 'all') return 'all'
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 10_000) throw new UsageError(`--nodes must be a number of nodes (1 to 10000) or "all", not "${text}"`)
  return Number(text)
}
