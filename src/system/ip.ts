/**
 * iproute2, for the rehearsal's simulated nodes: an address per node on the interface they share,
 * and the network namespace (with a macvlan on the boot LAN's interface) a rehearsal against a real
 * site runs in, so that nothing it does touches the host's own interfaces.
 */
import { exec } from './exec.ts'

/** Adds `address/prefix` to `device` (in the namespace this process runs in); one already there is fine. */
export async function addAddress(device: string, address: string, prefix: number): Promise<void> {
  const result = await exec(['ip', 'addr', 'add', `${address}/${prefix}`, 'dev', device], { okCodes: [2] })
  if (result.exitCode === 2 && !/File exists/.test(result.stderr)) {
    await exec(['ip', 'addr', 'add', `${address}/${prefix}`, 'dev', device])
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

/** Addresses this host's neighbour table holds a MAC for on `device` (answered ARP lately). */
export async function neighboursOn(device: string): Promise<Set<string>> {
  const { stdout } = await exec(['ip', '-4', 'neigh', 'show', 'dev', device])
  return new Set(stdout.split('\n').filter((line) => /lladdr/.test(line) && !/FAILED|INCOMPLETE/.test(line)).map((line) => line.split(' ')[0]!))
}
