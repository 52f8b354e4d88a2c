/**
 * One publish of a recipe to a host at a time: `<nfs>/<recipe>/.pibake-lock` names its holder
 * (machine, pid, since) and is refreshed while the publish runs. A lock whose holder is gone (a pid
 * of this machine no longer running, or no refresh for STALE_MS) is taken over.
 */
import { hostname } from 'node:os'
import { join } from 'node:path'
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
export async function lockPublish(files: HostFiles, recipeRoot: string, what: string): Promise<() => Promise<void>> {
  const file = join(recipeRoot, '.pibake-lock')
  const me: Holder = { machine: hostname(), pid: process.pid, since: new Date().toISOString() }
  await files.mkdir(recipeRoot)
  for (let attempt = 0; !(await files.createExclusive(file, JSON.stringify(me))); attempt++) {
    const holder = parse(await files.readText(file))
    const age = Date.now() - ((await files.mtime(file)) ?? 0)
    const dead = holder?.machine === me.machine ? !processAlive(holder.pid) : age > STALE_MS
    if (!dead || attempt > 2) {
      throw new PibakeError(
        `${what} is being published by another pibake (${holder ? `pid ${holder.pid} on ${holder.machine}, since ${holder.since}` : 'unknown holder'})`,
        `wait for it to finish; a lock not refreshed for ${STALE_MS / 1000} s is taken over (${files.describe(file)})`,
      )
    }
    await files.remove(file)
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
