/**
 * Checks that relate fields to each other: the DHCP range and the nodes' addresses against the
 * server's subnet, no two nodes sharing a host name, MAC, IP or serial, and shared accounts on a
 * folder that does not squash root.
 *
 * They read the raw input, so that they run even when other fields are wrong, and they skip any
 * value that is itself malformed (the schema reports that one).
 */
import { formatIPv4, netmaskBits, networkOf, parseIPv4, subnetLabel } from './ipv4.ts'
import { isNodeHostname, normalizeMac, normalizeSerial, serialPrefix } from './node.ts'
import type { Problem } from './problems.ts'

/** The value at `path` inside `value`, if every step of the way is an object or list. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  let here = value
  for (const key of path) {
    if (typeof here !== 'object' || here === null) return undefined
    here = (here as Record<string | number, unknown>)[key]
  }
  return here
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

function address(value: unknown): number | undefined {
  const t = text(value)
  return t === undefined ? undefined : parseIPv4(t)
}

/** A subnet that addresses must be in, and how messages name it. */
interface Subnet {
  readonly network: number
  readonly bits: number
  readonly name: string
}

/** The netmask's prefix length, in range mode (proxy mode has no subnet of its own). */
function rangeBits(input: unknown): number | undefined {
  if (at(input, 'netboot', 'dhcp', 'mode') !== 'range') return undefined
  const mask = at(input, 'netboot', 'dhcp', 'netmask')
  return mask === undefined ? 24 : netmaskBits(text(mask) ?? '')
}

function subnetOf(ip: number | undefined, bits: number | undefined, name: string): Subnet | undefined {
  if (ip === undefined || bits === undefined) return undefined
  const network = networkOf(ip, bits)
  return { network, bits, name: `${name} (${subnetLabel(network, bits)})` }
}

/** The subnet the range and the nodes must be in: the server's, in range mode with a valid netmask. */
function serverSubnet(input: unknown): Subnet | undefined {
  return subnetOf(address(at(input, 'netboot', 'server')), rangeBits(input), "the server's subnet")
}

function outside(ip: number, subnet: Subnet): boolean {
  return networkOf(ip, subnet.bits) !== subnet.network
}

export function relationProblems(input: unknown): Problem[] {
  return [...rangeProblems(input), ...nodeProblems(input), ...sharedProblems(input), ...persistProblems(input), ...pi3ServerProblems(input)]
}

/**
 * The Pi 3s' own dnsmasq listens on `netboot.pi3Server`: a second address of the boot server, so
 * not its first one, no node's, not one the DHCP range may lease; and in its subnet (the 3B's
 * boot ROM cannot reach a TFTP server in another, and both dnsmasq serve one interface).
 */
function pi3ServerProblems(input: unknown): Problem[] {
  const path = ['netboot', 'pi3Server']
  const ip = address(at(input, ...path))
  if (ip === undefined) return []
  const shown = formatIPv4(ip)
  const problems: Problem[] = []
  if (ip === address(at(input, 'netboot', 'server'))) {
    problems.push({ path, message: `${shown} is the server's address (netboot.server)`, hint: 'give a second address of the boot server, for the Pi 3s\' own dnsmasq' })
  }
  const subnet = serverSubnet(input)
  if (subnet && outside(ip, subnet)) problems.push({ path, message: `${shown} is not in ${subnet.name}`, hint: 'a second address of the boot server on the same subnet as netboot.server' })
  const start = address(at(input, 'netboot', 'dhcp', 'start'))
  const end = address(at(input, 'netboot', 'dhcp', 'end'))
  if (rangeBits(input) !== undefined && start !== undefined && end !== undefined && ip >= start && ip <= end) {
    problems.push({ path, message: `${shown} is inside the DHCP range (netboot.dhcp ${formatIPv4(start)} to ${formatIPv4(end)}), which dnsmasq may lease to another machine`, hint: 'take an address outside the range' })
  }
  const nodes = at(input, 'nodes')
  if (Array.isArray(nodes)) {
    nodes.forEach((node: unknown, i) => {
      if (address(at(node, 'ip')) === ip) problems.push({ path, message: `${shown} is the address of nodes[${i}]${validHostname(node) ? ` (${validHostname(node)})` : ''}` })
    })
  }
  return problems
}

/** Persisted folders are exported read-write to one node's address: a node without a fixed one could not be told apart. */
function persistProblems(input: unknown): Problem[] {
  const persist = at(input, 'netboot', 'persist')
  const nodes = at(input, 'nodes')
  if (!Array.isArray(persist) || !persist.length || !Array.isArray(nodes)) return []
  // Range mode asks every node for its address already (`addressChecker`).
  if (at(input, 'netboot', 'dhcp', 'mode') === 'range') return []
  return nodes.flatMap((node: unknown, i) => (typeof node === 'object' && node !== null && at(node, 'ip') === undefined ? [{
    path: ['nodes', i, 'ip'],
    message: "required with netboot.persist: each node's persisted folders are exported read-write to its address alone",
    hint: 'give the node a fixed address (reserve it on the existing DHCP server in proxy mode), or leave out netboot.persist',
  }] : []))
}

/** Shared accounts are written by the nodes' root: a squashed root could not seed or edit them. */
function sharedProblems(input: unknown): Problem[] {
  if (at(input, 'netboot', 'shared', 'accounts') !== true || at(input, 'netboot', 'shared', 'rootSquash') !== true) return []
  return [{
    path: ['netboot', 'shared', 'rootSquash'],
    message: 'shared accounts need the nodes\' root to write the account files in the shared folder, which root_squash forbids',
    hint: 'leave out rootSquash (it defaults to false with accounts), or serve the accounts another way (accounts: false)',
  }]
}

/** The range lies in the server's subnet (or, when the server's address is itself wrong, in one subnet), start first. */
function rangeProblems(input: unknown): Problem[] {
  const dhcp = ['netboot', 'dhcp']
  const start = address(at(input, ...dhcp, 'start'))
  const end = address(at(input, ...dhcp, 'end'))
  const subnet = serverSubnet(input) ?? subnetOf(start, rangeBits(input), 'the subnet of netboot.dhcp.start')
  const problems: Problem[] = []
  for (const [key, ip] of [['start', start], ['end', end]] as const) {
    if (ip !== undefined && subnet && outside(ip, subnet)) problems.push({ path: [...dhcp, key], message: `${formatIPv4(ip)} is not in ${subnet.name}` })
  }
  if (start !== undefined && end !== undefined && start > end) {
    problems.push({ path: [...dhcp, 'end'], message: `${formatIPv4(end)} comes before the start of the range (${formatIPv4(start)})` })
  }
  return problems
}

function nodeProblems(input: unknown): Problem[] {
  const nodes = at(input, 'nodes')
  if (!Array.isArray(nodes)) return []
  const addressesOf = addressChecker(input)
  const duplicatesOf = duplicateChecker()
  return nodes.flatMap((node: unknown, i) => [...addressesOf(node, i), ...duplicatesOf(node, i)])
}

/** A node's IP must be in the server's subnet, and not the server's own. */
function addressChecker(input: unknown): (node: unknown, i: number) => Problem[] {
  const subnet = serverSubnet(input)
  const nfs = at(input, 'netboot', 'nfs')
  const servers = [
    { ip: address(at(input, 'netboot', 'server')), name: "the server's address (netboot.server)" },
    ...(Array.isArray(nfs)
      ? nfs.map((server: unknown, i) => ({ ip: address(at(server, 'server')), name: `an NFS server's address (netboot.nfs[${i}].server)` }))
      : [{ ip: address(at(input, 'netboot', 'nfs', 'server')), name: "the NFS server's address (netboot.nfs.server)" }]),
  ]
  const range = at(input, 'netboot', 'dhcp', 'mode') === 'range'
  return (node, i) => {
    const path = ['nodes', i, 'ip']
    if (range && typeof node === 'object' && node !== null && at(node, 'ip') === undefined) {
      return [{ path, message: "required with dhcp mode 'range' (dnsmasq gives each node its fixed address); only mode 'proxy' knows nodes by MAC alone" }]
    }
    const ip = address(at(node, 'ip'))
    if (ip === undefined) return []
    const problems = servers.filter((s) => s.ip === ip).map((s) => ({ path, message: `${formatIPv4(ip)} is ${s.name}` }))
    if (subnet && outside(ip, subnet)) problems.push({ path, message: `${formatIPv4(ip)} is not in ${subnet.name}` })
    return problems
  }
}

/** What must differ between nodes: `key` is compared, `shown` is quoted in the message. */
interface Identity {
  readonly field: 'hostname' | 'mac' | 'ip' | 'serial'
  readonly key: string
  readonly shown: string
  readonly why: string
}

/** Reports a node that reuses an earlier node's host name, MAC, IP or serial, naming the earlier one. */
function duplicateChecker(): (node: unknown, i: number) => Problem[] {
  const first = new Map<string, { index: number; hostname: string | undefined }>()
  return (node, i) => {
    const hostname = validHostname(node)
    return identityOf(node).flatMap(({ field, key, shown, why }) => {
      const earlier = first.get(`${field} ${key}`)
      if (earlier === undefined) {
        first.set(`${field} ${key}`, { index: i, hostname })
        return []
      }
      const name = earlier.hostname === undefined || field === 'hostname' ? '' : ` (${earlier.hostname})`
      return [{ path: ['nodes', i, field], message: `${shown} is already used by nodes[${earlier.index}]${name}${why}` }]
    })
  }
}

function validHostname(node: unknown): string | undefined {
  const hostname = text(at(node, 'hostname'))
  return hostname !== undefined && isNodeHostname(hostname) ? hostname : undefined
}

function identityOf(node: unknown): Identity[] {
  const hostname = validHostname(node)
  const mac = normalizeMac(text(at(node, 'mac')) ?? '')
  const ip = address(at(node, 'ip'))
  const serial = normalizeSerial(text(at(node, 'serial')) ?? '')
  const found: Identity[] = []
  if (hostname !== undefined) found.push({ field: 'hostname', key: hostname, shown: hostname, why: '' })
  if (mac !== undefined) found.push({ field: 'mac', key: mac, shown: mac, why: '' })
  if (ip !== undefined) found.push({ field: 'ip', key: String(ip), shown: formatIPv4(ip), why: '' })
  if (serial !== undefined) {
    // A Pi 4 or 5 asks for <low 8 digits of its serial>/…, so two serials ending alike collide.
    const long = serial.length > 8
    const shown = long ? `${serial} ends in ${serialPrefix(serial)}, which` : serial
    found.push({ field: 'serial', key: serialPrefix(serial), shown, why: long ? '; the boot ROM uses only the low 8 digits' : '' })
  }
  return found
}
