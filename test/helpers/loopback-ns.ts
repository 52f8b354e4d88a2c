/**
 * A network namespace holding only `lo`, for servers that must be reachable from nowhere but
 * themselves and from QEMU's user network (slirp connects to the namespace's loopback for the
 * guest's 10.0.2.2). Whatever runs in it is registered with `own()` and stopped by PID, in reverse
 * order, before the namespace is deleted; on success, on failure and on SIGINT/SIGTERM.
 *
 *   await withLoopbackNs('boot', async (ns) => { ns.own(await startNfsServer(ns.name, …)) })
 */
import { exec, type ExecOptions, type ExecResult } from '../../src/system/exec.ts'
import type { Owned } from '../../src/system/process.ts'

export type { Owned }

let count = 0

export class LoopbackNs {
  readonly name: string
  readonly #owned: Owned[] = []
  #made = false
  #closing: Promise<void> | undefined

  constructor(role: string) {
    count += 1
    this.name = `pibake-t${process.pid}-${count}-${role}`
  }

  readonly #onSignal = (signal: NodeJS.Signals): void => {
    void this.close().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }

  async setup(): Promise<void> {
    process.on('SIGINT', this.#onSignal).on('SIGTERM', this.#onSignal)
    await exec(['ip', 'netns', 'add', this.name])
    this.#made = true
    await exec(['ip', '-n', this.name, 'link', 'set', 'lo', 'up'])
  }

  /** Runs a program inside the namespace. */
  run(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    return exec(['ip', 'netns', 'exec', this.name, ...argv], options)
  }

  /** Takes charge of a server: it is stopped (by PID) when the namespace closes. */
  own<T extends Owned>(server: T): T {
    this.#owned.push(server)
    return server
  }

  /** Stops every owned server in reverse order, then deletes the namespace. One teardown for all callers. */
  close(): Promise<void> {
    this.#closing ??= this.#teardown()
    return this.#closing
  }

  async #teardown(): Promise<void> {
    const problems: string[] = []
    for (const server of this.#owned.splice(0).reverse()) {
      await server.stop().catch((error: unknown) => problems.push(`stopping pid ${server.pid}: ${String(error)}`))
    }
    if (this.#made) await exec(['ip', 'netns', 'del', this.name]).catch((error: unknown) => problems.push(String(error)))
    // Only now: a listener must stay while a signal is handled, or execa's exit handler kills us first.
    process.off('SIGINT', this.#onSignal).off('SIGTERM', this.#onSignal)
    if (problems.length) throw new Error(`namespace ${this.name} teardown:\n${problems.join('\n')}`)
  }
}

/** Makes a loopback-only namespace, runs `fn`, and always stops its servers and deletes it afterwards. */
export async function withLoopbackNs<T>(role: string, fn: (ns: LoopbackNs) => Promise<T>): Promise<T> {
  const ns = new LoopbackNs(role)
  let failure: unknown
  try {
    await ns.setup()
    return await fn(ns)
  } catch (error) {
    failure = error
    throw error
  } finally {
    // A teardown problem must not hide the failure that came before it.
    await ns.close().catch((error: unknown) => {
      if (failure === undefined) throw error
      process.stderr.write(`${String(error)}\n`)
    })
  }
}
