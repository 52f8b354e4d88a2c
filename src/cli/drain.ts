/** `pibake drain <server>` and `pibake undrain <server>`: the site's NFS servers, taken out of service and brought back. */
import { drain, undrain, type DrainResult } from '../site/drain.ts'
import { oneArgument, type Values } from './commands.ts'
import { siteFromOptions } from './site.ts'

export async function drainCommand(args: readonly string[], values: Values): Promise<number> {
  const result = await drain(siteFromOptions(values), oneArgument(args, 'an NFS server of the site (as netboot.nfs names it)'))
  if (values.json) return json(result)
  print(result)
  process.stdout.write(`${result.server} is drained: its nodes boot from their new server at their next reboot (those running keep it until then); take it down once they have rebooted. pibake undrain ${result.server} brings it back.\n`)
  return 0
}

export async function undrainCommand(args: readonly string[], values: Values): Promise<number> {
  const result = await undrain(siteFromOptions(values), oneArgument(args, 'an NFS server of the site (as netboot.nfs names it)'), { rebalance: values.rebalance ?? false })
  if (values.json) return json(result)
  print(result)
  process.stdout.write(`${result.server} serves again: new nodes are assigned to it${values.rebalance ? '' : '; the others stay where they are (--rebalance moves some onto it)'}.\n`)
  return 0
}

function print(result: DrainResult): void {
  for (const m of result.moved) process.stdout.write(`${m.recipe}/${m.hostname}: ${m.from} → ${m.to} (build ${m.build})\n`)
  if (!result.moved.length) process.stdout.write('no node moved\n')
  if (result.configChanged.length) process.stdout.write(`wrote ${result.configChanged.join(', ')}: reload the NFS servers whose exports changed\n`)
}

function json(value: unknown): number {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
  return 0
}
