/**
 * From what one or more DHCP requests of a MAC showed to a node entry for a recipe: a host name, the
 * model and the serial, each with how it was inferred and how sure that is.
 */
import type { PiModel } from '../recipe/types.ts'
import { decodeClientMachineId, piMacPrefix } from './pi-models.ts'

/** What one request showed (a packet, or the lines dnsmasq logged about it). */
export interface Sighting {
  readonly mac: string
  /** The interface it came in on, when the source knows (dnsmasq's log does; a socket does not). */
  readonly interface?: string | undefined
  readonly vendorClass?: string | undefined
  readonly clientArch?: number | undefined
  readonly clientMachineId?: Buffer | undefined
  readonly hostname?: string | undefined
}

/** `sure`: read from the board's own words; `likely`: read, with an assumption; `guess`: from the MAC prefix. */
export type Certainty = 'sure' | 'likely' | 'guess'

export interface Discovered {
  /** Suggested host name: `pi-` and the MAC's last three bytes. */
  readonly hostname: string
  readonly mac: string
  readonly model: PiModel
  readonly modelCertainty: Certainty
  readonly modelHow: string
  /** The 8 hex digits the boot ROM uses as its TFTP prefix, when the request carried them. */
  readonly serial?: string
  readonly serialCertainty?: Certainty
  readonly serialHow?: string
  /** Whether the request came from a network boot ROM or bootloader (vendor class `PXEClient…`). */
  readonly netboot: boolean
  readonly interface?: string
  readonly vendorClass?: string
  readonly clientArch?: number
  /** Option 97 as hex, type byte included. */
  readonly clientMachineId?: string
  /** The name the client proposed (option 12), if any. */
  readonly proposedName?: string
  readonly requests: number
  readonly firstSeen: string
  readonly lastSeen: string
}

/** Turns everything seen from one MAC (oldest first) into a node entry. */
export function identify(sightings: readonly Sighting[], seen: { first: Date; last: Date }): Discovered {
  const mac = sightings[0]!.mac
  const latest = <K extends keyof Sighting>(key: K): Sighting[K] | undefined => sightings.findLast((s) => s[key] !== undefined)?.[key]
  const clientMachineId = latest('clientMachineId')
  const vendorClass = latest('vendorClass')
  const prefix = piMacPrefix(mac)
  let model: PiModel = prefix?.guess ?? '4B'
  let modelCertainty: Certainty = 'guess'
  let modelHow = `guessed from the MAC prefix ${mac.slice(0, 8)} (${prefix?.era ?? 'unknown vendor'})`
  let serial: Pick<Discovered, 'serial' | 'serialCertainty' | 'serialHow'> = {}
  if (clientMachineId) {
    const id = decodeClientMachineId(clientMachineId, mac)
    if (id.revision?.model) {
      model = id.revision.model
      modelCertainty = id.macMatches ? 'sure' : 'likely'
      modelHow = id.how
    } else if (id.revision) {
      modelHow = `${id.how}; not a model pibake names, so ${modelHow}`
    }
    if (id.serial) {
      const certainty: Certainty = id.format === 'rpi' && !id.macMatches ? 'guess' : 'likely'
      const how = id.format === 'rpi' ? `the last word of option 97, read little-endian like the board revision (assumed)${id.macMatches ? '' : '; the MAC bytes did not match'}` : id.how
      serial = { serial: id.serial, serialCertainty: certainty, serialHow: `${how}; check it against the TFTP prefix the node asks for (<serial>/start4.elf or <serial>/config.txt)` }
    } else if (id.format === 'unknown') {
      modelHow = `${modelHow}; ${id.how}`
    }
  }
  const optional = {
    ...(latest('interface') === undefined ? {} : { interface: latest('interface') }),
    ...(vendorClass === undefined ? {} : { vendorClass }),
    ...(latest('clientArch') === undefined ? {} : { clientArch: latest('clientArch') }),
    ...(clientMachineId ? { clientMachineId: clientMachineId.toString('hex') } : {}),
    ...(latest('hostname') === undefined ? {} : { proposedName: latest('hostname') }),
  }
  return {
    hostname: `pi-${mac.split(':').slice(3).join('')}`,
    mac,
    model,
    modelCertainty,
    modelHow,
    ...serial,
    netboot: vendorClass?.startsWith('PXEClient') ?? false,
    ...optional,
    requests: sightings.length,
    firstSeen: seen.first.toISOString(),
    lastSeen: seen.last.toISOString(),
  }
}
