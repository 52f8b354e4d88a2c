/**
 * What the site's dnsmasq saw, from its log (`log-facility=<file>` with `log-dhcp`, the file given
 * to `pibake serve --log`): when it last answered each node and which boot file the node last
 * fetched, and the Raspberry Pis that asked but no recipe knows (what `pibake discover --log` reports).
 *
 *   Nov 30 21:10:01 dnsmasq-dhcp[15443]: 3319909381 DHCPACK(eth0) 10.91.0.11 dc:a6:32:00:90:01 node1
 *   Nov 30 21:10:02 dnsmasq-tftp[15443]: sent /srv/tftp/dc-a6-32-00-90-01/start4.elf to 10.91.0.11
 */
import { open } from 'node:fs/promises'
import { DnsmasqLogReader } from '../site/dnsmasq-log.ts'
import { identify, type Discovered, type Sighting } from '../site/identify.ts'
import { piMacPrefix } from '../site/pi-models.ts'

export interface NodeSeen {
  /** The log's time stamp of the last answer (dnsmasq writes no year). */
  answered?: string
  /** The last file it fetched over TFTP, relative to its own folder, and when. */
  fetched?: { readonly file: string; readonly at: string }
}

export interface DnsmasqSeen {
  /** By MAC, lower-case with colons. */
  readonly nodes: ReadonlyMap<string, NodeSeen>
  /** Raspberry Pis (by MAC prefix) whose requests were logged, the known ones included. */
  readonly requests: ReadonlyMap<string, readonly Sighting[]>
}

/** At most this much of the log's end is read: the recent past is what the page shows. */
const TAIL_BYTES = 8 * 1024 * 1024
const STAMP = /^(\w{3} [ \d]\d \d\d:\d\d:\d\d) /
const ANSWER = /\b(?:DHCPOFFER|DHCPACK|PXE|BOOTP)\(([^)]+)\) (?:(\d+\.\d+\.\d+\.\d+) )?((?:[0-9a-f]{2}:){5}[0-9a-f]{2})\b(?! (?:ignored|proxy-ignored|no address))/i
const SENT = /dnsmasq-tftp\[\d+\]: sent (\S+) to (\d+\.\d+\.\d+\.\d+)/
const MAC_DIR = /\/((?:[0-9a-f]{2}-){5}[0-9a-f]{2})\/(.+)$/i

export async function readDnsmasqLog(file: string, ipToMac: ReadonlyMap<string, string>): Promise<DnsmasqSeen> {
  const nodes = new Map<string, NodeSeen>()
  const requests = new Map<string, Sighting[]>()
  const reader = new DnsmasqLogReader()
  const seen = (mac: string) => nodes.get(mac) ?? nodes.set(mac, {}).get(mac)!
  for (const line of await tail(file)) {
    const at = STAMP.exec(line)?.[1] ?? ''
    const sighting = reader.line(line)
    if (sighting && piMacPrefix(sighting.mac)) requests.set(sighting.mac, [...(requests.get(sighting.mac) ?? []), sighting])
    const answer = ANSWER.exec(line)
    if (answer && /dnsmasq-dhcp/.test(line) && !/ignored/.test(line)) seen(answer[3]!.toLowerCase()).answered = at
    const sent = SENT.exec(line)
    if (sent) {
      const dir = MAC_DIR.exec(sent[1]!)
      const mac = dir ? dir[1]!.replaceAll('-', ':').toLowerCase() : ipToMac.get(sent[2]!)
      if (mac) seen(mac).fetched = { file: dir ? dir[2]! : sent[1]!, at }
    }
  }
  return { nodes, requests }
}

/** The Pis that asked and that the site does not know, each as `pibake discover` would report it. */
export function unknownPis(seen: DnsmasqSeen, known: ReadonlySet<string>): Discovered[] {
  const now = new Date()
  return [...seen.requests].filter(([mac]) => !known.has(mac)).map(([, sightings]) => identify(sightings, { first: now, last: now }))
}

/** The line to paste into a recipe's `nodes`. */
export function nodeEntry(node: Discovered): string {
  const fields = [`hostname: '${node.hostname}'`, `mac: '${node.mac}'`, `model: '${node.model}'`, ...(node.serial ? [`serial: '${node.serial}'`] : [])]
  return `{ ${fields.join(', ')} },`
}

async function tail(file: string): Promise<string[]> {
  const handle = await open(file, 'r').catch(() => undefined)
  if (!handle) return []
  try {
    const { size } = await handle.stat()
    const start = Math.max(0, size - TAIL_BYTES)
    const buffer = Buffer.alloc(size - start)
    await handle.read(buffer, 0, buffer.length, start)
    const lines = buffer.toString('utf8').split('\n')
    return start > 0 ? lines.slice(1) : lines
  } finally {
    await handle.close()
  }
}
