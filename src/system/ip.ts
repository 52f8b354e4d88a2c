/**
 * iproute2, for the rehearsal's simulated nodes: an address per node on the interface they share,
 * and the network namespace (with a macvlan on the boot LAN's interface) a rehearsal against a real
 * site runs in, so that nothing it does touches the host's own interfaces.
 */
import { createInterface } from 'node:readline'
import { PibakeError } from '../errors.ts'
import { exec, execStream, type StreamedCommand } from './exec.ts'

/** Adds `address/prefix` to `device` (in the namespace this process runs in); one already there is fine. */
export async function addAddress(device: string, address: string, prefix: number): Promise<void> {
  const result = await exec(['ip', 'addr', 'add', `${address}/${prefix}`, 'dev', device], { okCodes: [2] })
  if (result.exitCode === 2 && !/File exists/.test(result.stderr)) {
    await exec(['ip', 'addr', 'add', `${address}/${prefix}`, 'dev', device])
  }
}

/**
 * Addresses added to one interface by one long-lived `ip -batch` (in the namespace this process
 * runs in): a storm's thousand nodes each claim theirs as DHCP gives it, and a thousand `ip`
 * processes spawned by a process holding the published files took some 0.3 s each on a loaded
 * machine. Each `addr replace` (there already is fine) is followed by an `addr show` of that
 * address, whose line (output line-buffered by stdbuf) says the address is in place.
 */
export class AddressBatch {
  readonly device: string
  readonly #ip: StreamedCommand
  readonly #waiting = new Map<string, (() => void)[]>()
  #failed: unknown

  private constructor(device: string) {
    if (!/^[\w.@-]{1,15}$/.test(device)) throw new PibakeError(`"${device}" is not a network interface name`)
    this.device = device
    this.#ip = execStream(['stdbuf', '-oL', 'ip', '-batch', '-'], { hint: 'ip could not add a simulated node\'s address: its error is above' })
    createInterface({ input: this.#ip.stdout }).on('line', (line) => {
      const address = /^\s*inet (\d+\.\d+\.\d+\.\d+)\//.exec(line)?.[1]
      if (!address) return
      for (const done of this.#waiting.get(address) ?? []) done()
      this.#waiting.delete(address)
    })
    this.#ip.done.catch((error: unknown) => {
      this.#failed = error
      for (const waiters of this.#waiting.values()) for (const done of waiters) done()
      this.#waiting.clear()
    })
  }

  static open(device: string): AddressBatch {
    return new AddressBatch(device)
  }

  /** Adds `address/prefix` (one already there is fine); resolves once it is on the interface. */
  async add(address: string, prefix: number): Promise<void> {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(address) || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new PibakeError(`"${address}/${prefix}" is not an IPv4 address with a prefix`)
    if (this.#failed) throw this.#failed
    const added = new Promise<void>((resolve) => this.#waiting.set(address, [...(this.#waiting.get(address) ?? []), resolve]))
    this.#ip.stdin.write(`addr replace ${address}/${prefix} dev ${this.device}\naddr show dev ${this.device} to ${address}/32\n`)
    await added
    if (this.#failed) throw this.#failed
  }

  /** Ends the `ip` process (the addresses stay: the namespace's owner removes them with it). */
  async close(): Promise<void> {
    this.#ip.stdin.end()
    await this.#ip.done
  }
}

/** A namespace of its own holding `eth0`, a macvlan on `parent` (the boot LAN): returns its undo. */
export async function macvlanNamespace(name: string, parent: string): Promise<() => Promise<void>> {
  await exec(['ip', 'netns', 'add', name])
  const undo = async () => {
    await exec(['ip', 'netns', 'del', name])
  }
  try {
    const link = `${name.slice(0, 10)}-mv`
    await exec(['ip', 'link', 'add', link, 'link', parent, 'type', 'macvlan', 'mode', 'bridge'])
    await exec(['ip', 'link', 'set', link, 'netns', name])
    await exec(['ip', '-n', name, 'link', 'set', link, 'name', 'eth0'])
    await exec(['ip', '-n', name, 'link', 'set', 'lo', 'up'])
    await exec(['ip', '-n', name, 'link', 'set', 'eth0', 'up'])
    // Broadcasts (DHCP) leave through eth0 before any address is there.
    await exec(['ip', '-n', name, 'route', 'add', '255.255.255.255/32', 'dev', 'eth0'])
    return undo
  } catch (error) {
    await undo()
    throw error
  }
}

/** Whether `device` is an interface of the namespace this process runs in (`ip link` says "does not exist", status 1, when not). */
export async function linkExists(device: string): Promise<boolean> {
  const result = await exec(['ip', 'link', 'show', 'dev', device], { okCodes: [1] })
  if (result.exitCode === 0) return true
  if (/does not exist/.test(result.stderr)) return false
  throw new PibakeError(`ip link show dev ${device} failed: ${result.stderr.trim()}`)
}

/** Addresses this host's neighbour table holds a MAC for on `device` (answered ARP lately). */
export async function neighboursOn(device: string): Promise<Set<string>> {
  const { stdout } = await exec(['ip', '-4', 'neigh', 'show', 'dev', device])
  return new Set(stdout.split('\n').filter((line) => /lladdr/.test(line) && !/FAILED|INCOMPLETE/.test(line)).map((line) => line.split(' ')[0]!))
}
