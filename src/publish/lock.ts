/**
 * One publish of a recipe to a host at a time: `<nfs>/<recipe>/.pibake-lock` names its holder
 * (machine, pid, since) and is refreshed while the publish runs; and one change of a site's records
 * at a time (`<config>/.pibake-site-lock`), which a publish waits for. A lock whose holder is gone (a pid
 * of this machine no longer running, or no refresh for STALE_MS) is taken over.
 */
import { hostname } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PibakeError } from '../errors.ts'
import { processAlive } from '../system/cleanup.ts'
import type { HostFiles } from './files.ts'

export const STALE_MS = 90_000
const REFRESH_MS = 20_000

interface Holder {
  readonly machine: string
  readonly pid: number
  readonly since: string
}

/** Takes the lock (or throws naming its holder); the returned function releases it. */
export function lockPublish(files: HostFiles, recipeRoot: string, what: string): Promise<() => Promise<void>> {
  return takeLock(files, recipeRoot, '.pibake-lock', { what, busy: 'is being published by another pibake' })
}

/**
 * The site's lock (`<config>/.pibake-site-lock`): held from reading the site's records to writing
 * them and the configuration rendered from them, so that recipes published at the same time each
 * see the others' records and no fleet drops out of `dnsmasq.conf`. A publish waits for it while
 * its holder lives (`onWait` says so once); a dead or stale holder's lock is taken over.
 */
export function lockSite(files: HostFiles, configDir: string, options: { signal?: AbortSignal; onWait?: (holder: string) => void } = {}): Promise<() => Promise<void>> {
  return takeLock(files, configDir, '.pibake-site-lock', { what: `the site ${files.describe(configDir)}`, busy: 'is being changed by another pibake', wait: true, ...options })
}

interface LockOptions {
  readonly what: string
  /** What the holder is doing, for the refusal. */
  readonly busy: string
  /** Wait while a live holder has it, instead of refusing. */
  readonly wait?: boolean
  readonly signal?: AbortSignal | undefined
  readonly onWait?: ((holder: string) => void) | undefined
}

const WAIT_POLL_MS = 250

async function takeLock(files: HostFiles, dir: string, name: string, options: LockOptions): Promise<() => Promise<void>> {
  const file = join(dir, name)
  const me: Holder = { machine: hostname(), pid: process.pid, since: new Date().toISOString() }
  await files.mkdir(dir)
  let waited = false
  for (let attempt = 0; !(await files.createExclusive(file, JSON.stringify(me))); attempt++) {
    const holder = parse(await files.readText(file))
    const age = Date.now() - ((await files.mtime(file)) ?? 0)
    const dead = holder?.machine === me.machine ? !processAlive(holder.pid) : age > STALE_MS
    const named = holder ? `pid ${holder.pid} on ${holder.machine}, since ${holder.since}` : 'unknown holder'
    if (dead && attempt <= 2) {
      await files.remove(file)
      continue
    }
    if (!options.wait || dead) {
      throw new PibakeError(
        `${options.what} ${options.busy} (${named})`,
        `wait for it to finish; a lock not refreshed for ${STALE_MS / 1000} s is taken over (${files.describe(file)})`,
      )
    }
    if (!waited) options.onWait?.(named)
    waited = true
    options.signal?.throwIfAborted()
    // Aborted while waiting: the abort's own reason (the interrupt), not the timer's AbortError.
    await sleep(WAIT_POLL_MS, undefined, options.signal ? { signal: options.signal } : {}).catch((error: unknown) => {
      options.signal?.throwIfAborted()
      throw error
    })
    attempt = -1
  }
  // A failed refresh is retried at the next tick; a lock left unrefreshed only becomes stale.
  const timer = setInterval(() => void files.writeAtomic(file, JSON.stringify(me)).catch(() => undefined), REFRESH_MS)
  timer.unref()
  return async () => {
    clearInterval(timer)
    await files.remove(file)
  }
}

function parse(text: string | undefined): Holder | undefined {
  try {
    const value = JSON.parse(text ?? '') as Holder
    return typeof value.pid === 'number' && typeof value.machine === 'string' ? value : undefined
  } catch {
    return undefined
  }
}
