/**
 * A private Ethernet segment (for `pibake try` and the tests): one namespace holding a bridge (the
 * "LAN") and one namespace per host, each with an `eth0` veth (or the name it asks for) plugged into
 * the bridge. Nothing in it reaches the host's network. Veths are created inside the namespaces
 * (creating them on the host clashes with the host's own eth0). Servers started through the LAN are
 * stopped by PID, then every namespace is deleted, whatever happened in between.
 *
 *   await withLan([{ name: 'srv', address: '10.77.0.1/24' }, { name: 'cli', mac }], async (lan) => { … })
 */
import { existsSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { exec, type ExecOptions, type ExecResult } from '../system/exec.ts'
import { alive, signal, stopProcess } from '../system/process.ts'

export interface HostSpec {
  /** Short role name (a few letters: it also names the bridge port, 15 characters at most). */
  readonly name: string
  /** Address with prefix length, e.g. `10.77.0.1/24`. */
  readonly address?: string
  readonly mac?: string
  /** The host's interface name (default `eth0`): a boot server's published `interface=`. */
  readonly ifname?: string
}

export interface Server {
  readonly pid: number
  /** Stops the server by PID (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. */
  stop(): Promise<void>
}

let lanCount = 0

export class Lan {
  /** Namespace holding the bridge. */
  readonly lanNs: string
  readonly #hosts = new Map<string, string>()
  readonly #made: string[] = []
  readonly #servers: Server[] = []
  #closing: Promise<void> | undefined

  readonly #ownSignals: boolean

  /**
   * `prefix` starts every namespace's name: `pibake-t` for tests, `pibake-try` for `pibake try`.
   * Unless `ownSignals` is false (a caller that handles SIGINT/SIGTERM itself and closes the LAN),
   * an interrupted process closes the LAN and exits.
   */
  constructor(prefix = 'pibake-t', options: { ownSignals?: boolean } = {}) {
    lanCount += 1
    this.lanNs = `${prefix}${process.pid}-${lanCount}-lan`
    this.#ownSignals = options.ownSignals ?? true
  }

  /** The namespace of a host. */
  ns(name: string): string {
    const ns = this.#hosts.get(name)
    if (!ns) throw new Error(`no host ${name} on this LAN`)
    return ns
  }

  /** Runs a program inside a host's namespace. */
  run(name: string, argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    return exec(['ip', 'netns', 'exec', this.ns(name), ...argv], options)
  }

  /** Interrupted (Ctrl-C, a killed test run): stop the servers and delete the namespaces first. */
  readonly #onSignal = (signal: NodeJS.Signals): void => {
    void this.close().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }

  async setup(hosts: readonly HostSpec[]): Promise<void> {
    if (this.#ownSignals) process.on('SIGINT', this.#onSignal).on('SIGTERM', this.#onSignal)
    await this.#addNs(this.lanNs)
    await ip('-n', this.lanNs, 'link', 'add', 'br0', 'type', 'bridge')
    await ip('-n', this.lanNs, 'link', 'set', 'br0', 'up')
    for (const host of hosts) await this.#addHost(host)
  }

  async #addNs(ns: string): Promise<void> {
    await ip('netns', 'add', ns)
    this.#made.push(ns)
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
  }

  async #addHost(host: HostSpec): Promise<void> {
    const ns = this.lanNs.replace(/-lan$/, `-${host.name}`)
    const port = `v-${host.name}`
    await this.#addNs(ns)
    this.#hosts.set(host.name, ns)
    const ifname = host.ifname ?? 'eth0'
    await ip('-n', ns, 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', port, 'netns', this.lanNs)
    await ip('-n', this.lanNs, 'link', 'set', port, 'master', 'br0', 'up')
    if (host.mac) await ip('-n', ns, 'link', 'set', ifname, 'address', host.mac)
    if (host.address) await ip('-n', ns, 'addr', 'add', host.address, 'dev', ifname)
    await ip('-n', ns, 'link', 'set', ifname, 'up')
  }

  /**
   * Plugs this test process's own network namespace into the LAN with `address` (e.g.
   * `10.79.0.254/24`), so code under test that runs here (a build publishing over SSH) reaches the
   * LAN's hosts. The veth goes away with the LAN's namespaces.
   */
  async attachHere(address: string): Promise<void> {
    const here = `pbk${process.pid % 100000}h${lanCount}`
    await ip('link', 'add', here, 'type', 'veth', 'peer', 'name', 'v-here', 'netns', this.lanNs)
    await ip('-n', this.lanNs, 'link', 'set', 'v-here', 'master', 'br0', 'up')
    await ip('addr', 'add', address, 'dev', here)
    await ip('link', 'set', here, 'up')
  }

  /** Gives a host's eth0 another MAC address (the link goes down and up). */
  async setMac(name: string, mac: string): Promise<void> {
    const ns = this.ns(name)
    await ip('-n', ns, 'link', 'set', 'eth0', 'down')
    await ip('-n', ns, 'link', 'set', 'eth0', 'address', mac)
    await ip('-n', ns, 'link', 'set', 'eth0', 'up')
  }

  /**
   * Starts a long-running server inside a host's namespace. It must write `pidFile`; the server counts
   * as started once the pid file exists and `ready()` (if given) says so.
   */
  async start(
    name: string,
    argv: readonly string[],
    options: { pidFile: string; ready?: () => boolean; timeoutMs?: number; diagnose?: () => string },
  ): Promise<Server> {
    let exited: unknown
    let done = false
    const running = this.run(name, argv).then(
      (result) => { done = true; exited = result },
      (error: unknown) => { done = true; exited = error },
    )
    const deadline = Date.now() + (options.timeoutMs ?? 5000)
    for (;;) {
      const more = () => (options.diagnose ? `\n${options.diagnose()}` : '')
      if (done) throw new Error(`${argv[0]} exited before it was ready: ${exited instanceof Error ? exited.message : JSON.stringify(exited)}${more()}`)
      if (existsSync(options.pidFile) && readFileSync(options.pidFile, 'utf8').trim() && (options.ready?.() ?? true)) break
      if (Date.now() > deadline) throw new Error(`${argv[0]} did not get ready within ${options.timeoutMs ?? 5000} ms${more()}`)
      await sleep(20)
    }
    const pid = Number(readFileSync(options.pidFile, 'utf8').trim())
    const server: Server = {
      pid,
      async stop() {
        if (done) return
        signal(pid, 'SIGTERM')
        const killed = await Promise.race([running.then(() => false), sleep(3000, true, { ref: false })])
        if (killed) {
          signal(pid, 'SIGKILL')
          await running
        }
      },
    }
    this.#servers.push(server)
    return server
  }

  /**
   * Takes charge of a process the test did not start directly (a daemon a server script put in the
   * background): it is stopped by PID with the rest.
   */
  track(pid: number): Server {
    const server: Server = {
      pid,
      stop: () => stopProcess(pid),
    }
    this.#servers.push(server)
    return server
  }

  /** Stops every server started here (by PID), then deletes every namespace made here. */
  close(): Promise<void> {
    // One teardown, however many callers (a signal and the test's own finally) ask for it.
    this.#closing ??= this.#teardown()
    return this.#closing
  }

  async #teardown(): Promise<void> {
    const problems: string[] = []
    for (const server of this.#servers.splice(0).reverse()) {
      await server.stop().catch((error: unknown) => problems.push(String(error)))
    }
    for (const ns of this.#made.splice(0).reverse()) {
      await ip('netns', 'del', ns).catch((error: unknown) => problems.push(String(error)))
    }
    // Only now: while a signal is being handled, a listener must stay, or execa's exit handler
    // (signal-exit) finds itself alone and kills the process before the namespaces are gone.
    process.off('SIGINT', this.#onSignal).off('SIGTERM', this.#onSignal)
    if (problems.length) throw new Error(`LAN teardown:\n${problems.join('\n')}`)
  }
}

/** Builds a LAN with the given hosts, runs `fn`, and always tears the LAN down afterwards. */
export async function withLan<T>(hosts: readonly HostSpec[], fn: (lan: Lan) => Promise<T>): Promise<T> {
  const lan = new Lan()
  let failure: unknown
  try {
    await lan.setup(hosts)
    return await fn(lan)
  } catch (error) {
    failure = error
    throw error
  } finally {
    // A teardown problem must not hide the failure that came before it.
    await lan.close().catch((error: unknown) => {
      if (failure === undefined) throw error
      process.stderr.write(`${String(error)}\n`)
    })
  }
}

function ip(...args: string[]): Promise<ExecResult> {
  return exec(['ip', ...args])
}
