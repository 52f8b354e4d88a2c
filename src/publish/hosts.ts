/** The hosts of one publish: one connection per destination host, all closed at the end. */
import type { Destination } from '../recipe/types.ts'
import { localHost, type Host } from './host.ts'
import { sshHost } from './ssh-host.ts'

export class HostPool {
  readonly #hosts = new Map<string, Host>()

  /** The host a destination lives on (the same connection for every destination on it). */
  get(dest: Destination): Host {
    const key = dest.kind === 'local' ? 'local' : JSON.stringify([dest.user, dest.host, dest.port, dest.identity ?? '', dest.knownHosts])
    let host = this.#hosts.get(key)
    if (!host) {
      host = dest.kind === 'local' ? localHost() : sshHost(dest)
      this.#hosts.set(key, host)
    }
    return host
  }

  async close(): Promise<void> {
    const hosts = [...this.#hosts.values()]
    this.#hosts.clear()
    await Promise.allSettled(hosts.map((host) => host.close()))
  }
}

/** Whether two destinations are on the same host (their paths may differ). */
export function sameHost(a: Destination, b: Destination): boolean {
  if (a.kind === 'local' || b.kind === 'local') return a.kind === b.kind
  return a.user === b.user && a.host === b.host && a.port === b.port
}
