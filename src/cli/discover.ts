/**
 * `pibake discover --interface IF [--seconds N] [--log FILE] [--recipe FILE]… [--out DIR | --target DIR] [--json]`:
 * listens for DHCP requests and prints the Raspberry Pis the site does not know as node entries
 * ready to paste into a recipe.
 */
import { join } from 'node:path'
import { UsageError } from '../errors.ts'
import { loadRecipe } from '../recipe/load.ts'
import { discover, type Discovered } from '../site/discover.ts'
import { readSite, type Site } from '../site/store.ts'
import { outDir, type Values } from './commands.ts'
import { siteFromOptions } from './site.ts'

export async function discoverCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  if (args.length) throw new UsageError(`pibake discover takes no arguments, got ${args.join(' ')}`, 'pibake discover --interface eth0 [--seconds 30]')
  if (!values.interface) throw new UsageError('pibake discover needs --interface', 'the interface the Pis are on, e.g. --interface eth0')
  const seconds = values.seconds === undefined ? 30 : parseSeconds(values.seconds)
  const site = siteFromOptions(values)
  const known = new Set<string>(await knownSiteMacs(site).finally(() => site.hosts.close()))
  for (const file of values.recipe ?? []) {
    const recipe = await loadRecipe(file, { outDir: outDir(values) })
    for (const node of recipe.nodes) known.add(node.mac.toLowerCase())
  }
  const source = values.log ? { kind: 'log' as const, file: values.log } : { kind: 'socket' as const }
  if (!values.json) {
    const where = values.log ? `${values.log} (dnsmasq's log)` : `UDP port 67 (every interface: Node cannot bind to ${values.interface} alone)`
    process.stderr.write(`pibake: listening ${seconds} s for DHCP requests from Raspberry Pis on ${where}; ${known.size} known MACs ignored; nothing is answered\n`)
  }
  const onDiscovered = values.json ? undefined : (node: Discovered) => process.stderr.write(`pibake: heard ${node.mac}\n`)
  const found = await discover({ interface: values.interface, seconds, known, signal, source, onDiscovered })
  process.stdout.write(values.json ? `${JSON.stringify(found)}\n` : formatNodes(found, values.interface, seconds))
  return 0
}

/**
 * The MACs the site already serves: every node of every recipe recorded there, and every
 * `dhcp-host=<mac>` of its dnsmasq.conf (which also covers a site published before records).
 */
export async function knownSiteMacs(site: Site): Promise<string[]> {
  const records = await readSite(site)
  const conf = (await site.files.readText(join(site.config, 'dnsmasq.conf'))) ?? ''
  const fromConf = [...conf.matchAll(/^dhcp-host=((?:[0-9a-f]{2}:){5}[0-9a-f]{2})\b/gim)].map((m) => m[1]!)
  return [...records.flatMap((record) => record.nodes.map((n) => n.mac)), ...fromConf].map((mac) => mac.toLowerCase())
}

function parseSeconds(text: string): number {
  const seconds = Number(text)
  if (!/^\d+(\.\d+)?$/.test(text) || seconds <= 0 || seconds > 86_400) {
    throw new UsageError(`--seconds must be a positive number of seconds (at most 86400), not "${text}"`)
  }
  return seconds
}

/** Node entries to paste into a recipe's `nodes`, each after comments saying how sure each field is. */
export function formatNodes(found: readonly Discovered[], iface: string, seconds: number): string {
  if (!found.length) return `// no Raspberry Pi unknown to the site asked for an address on ${iface} in ${seconds} s\n`
  const lines = [`// ${found.length} Raspberry Pi${found.length === 1 ? '' : 's'} unknown to the site, heard on ${iface} in ${seconds} s (add ip: on a DHCP-range site)`]
  for (const node of found) {
    const request = [node.vendorClass ?? 'no vendor class', node.interface ? `on ${node.interface}` : undefined, `${node.requests} request${node.requests === 1 ? '' : 's'}`]
    lines.push(`// ${node.mac}: ${request.filter(Boolean).join(', ')}${node.netboot ? '' : ' (not a boot ROM: an OS asking for an address)'}`)
    lines.push(`//   model ${node.model} (${node.modelCertainty}): ${node.modelHow}`)
    if (node.serial) lines.push(`//   serial ${node.serial} (${node.serialCertainty}): ${node.serialHow}`)
    const fields = [`hostname: '${node.hostname}'`, `mac: '${node.mac}'`, `model: '${node.model}'`, ...(node.serial ? [`serial: '${node.serial}'`] : [])]
    lines.push(`{ ${fields.join(', ')} },`)
  }
  return `${lines.join('\n')}\n`
}
