/**
 * Discovery, PiServer's "add client": listens for DHCP requests for a while and returns the
 * Raspberry Pis (by MAC prefix) that no recipe of the site knows, each as a node entry with what the
 * request told about its model and serial. It only listens: nobody is ever answered.
 *
 * Two sources: a UDP socket on port 67 (broadcast DISCOVERs; reads option 97, so the serial and
 * board revision of a Pi 4/5), or the log of the site's dnsmasq running with `log-dhcp` (works beside
 * any DHCP server, gives the interface, but no option 97).
 */
import { existsSync, readdirSync } from 'node:fs'
import { access, constants } from 'node:fs/promises'
import { UsageError } from '../errors.ts'
import { listenForRequests } from './dhcp-listen.ts'
import { DnsmasqLogReader, followLines } from './dnsmasq-log.ts'
import { identify, type Discovered, type Sighting } from './identify.ts'
import { piMacPrefix } from './pi-models.ts'

export type { Discovered, Certainty, Sighting } from './identify.ts'

export type DiscoverSource = { readonly kind: 'socket' } | { readonly kind: 'log'; readonly file: string }

export interface DiscoverOptions {
  /**
   * The interface the Pis are on. With the log source only requests dnsmasq logged on it count; the
   * socket source checks that it exists but hears every interface (Node cannot bind to a device).
   */
  readonly interface: string
  /** How long to listen (default 30). */
  readonly seconds?: number
  /** MACs the site already knows, lower-case with colons: never reported. */
  readonly known?: ReadonlySet<string>
  /** Stops listening early; what was seen so far is returned. */
  readonly signal?: AbortSignal | undefined
  /** Default: the socket. */
  readonly source?: DiscoverSource
  /** Called once per new Pi, as soon as it is first seen. */
  readonly onDiscovered?: (node: Discovered) => void
}

interface Seen {
  readonly sightings: Sighting[]
  readonly first: Date
  last: Date
}

export async function discover(options: DiscoverOptions): Promise<Discovered[]> {
  const seconds = options.seconds ?? 30
  const source = options.source ?? { kind: 'socket' }
  await check(options.interface, seconds, source)
  const known = new Set([...(options.known ?? [])].map((mac) => mac.toLowerCase()))
  const seen = new Map<string, Seen>()
  const note = (sighting: Sighting): void => {
    if (!piMacPrefix(sighting.mac) || known.has(sighting.mac)) return
    if (sighting.interface !== undefined && sighting.interface !== options.interface) return
    const entry = seen.get(sighting.mac)
    if (entry) {
      entry.sightings.push(sighting)
      entry.last = new Date()
      return
    }
    const now = new Date()
    seen.set(sighting.mac, { sightings: [sighting], first: now, last: now })
    options.onDiscovered?.(identify([sighting], { first: now, last: now }))
  }
  const stop = AbortSignal.any([AbortSignal.timeout(seconds * 1000), ...(options.signal ? [options.signal] : [])])
  if (source.kind === 'socket') {
    await listenForRequests((request) => note(request), stop)
  } else {
    const reader = new DnsmasqLogReader()
    await followLines(source.file, (line) => {
      const sighting = reader.line(line)
      if (sighting) note(sighting)
    }, stop)
  }
  return [...seen.values()].map((entry) => identify(entry.sightings, entry))
}

async function check(name: string, seconds: number, source: DiscoverSource): Promise<void> {
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 86_400) {
    throw new UsageError(`--seconds must be a positive number of seconds (at most 86400), not ${JSON.stringify(String(seconds))}`)
  }
  if (!/^[\w.:@-]{1,15}$/.test(name)) throw new UsageError(`"${name}" is not a network interface name`)
  if (source.kind === 'log') {
    await access(source.file, constants.R_OK).catch((error: unknown) => {
      throw new UsageError(`cannot read the dnsmasq log ${source.file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, 'give the file dnsmasq logs to (log-facility=…, with log-dhcp)')
    })
    return
  }
  if (!existsSync(`/sys/class/net/${name}`)) {
    const names = existsSync('/sys/class/net') ? readdirSync('/sys/class/net').sort().join(', ') : 'none found'
    throw new UsageError(`no network interface named "${name}" on this host`, `interfaces here: ${names}`)
  }
}
