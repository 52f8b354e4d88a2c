import { loadRecipe } from '../recipe/load.ts'
import { nodeStatus } from '../nodes.ts'
import { oneArgument, outDir, type Values } from './commands.ts'

export async function nodesCommand(args: readonly string[], values: Values): Promise<number> {
  const recipe = await loadRecipe(oneArgument(args, 'one recipe file'), { outDir: outDir(values) })
  const nodes = await nodeStatus(recipe)
  if (values.json) {
    process.stdout.write(`${JSON.stringify(nodes)}\n`)
    return 0
  }
  const rows = [['HOSTNAME', 'MAC', 'SERIAL', 'IP', 'MODEL', 'TFTP DIRECTORY', 'BUILD'], ...nodes.map((n) => [n.hostname, n.mac, n.serial ?? '-', n.ip ?? '(DHCP)', n.model, n.tftpDir, n.build ?? '(not published)'])]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  for (const row of rows) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()}\n`)
  return 0
}
