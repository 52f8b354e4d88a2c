/**
 * One demo build per image at a time, across processes: several test files and sessions use the
 * same out/demo. The lock is a file made atomically (written under a temporary name, then
 * hard-linked to the lock's name, which fails if it exists) and kept fresh by its holder, which
 * touches it every few seconds. A lock not touched for STALE_MS belongs to a build that died and
 * is taken over. Freshness, not a pid, tells: pids mean nothing across pid namespaces.
 */
import { link, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

const BEAT_MS = 5_000
export const STALE_MS = 30_000
const POLL_MS = 2_000

export async function acquireBuildLock(path: string, onWait: (owner: string) => void, signal?: AbortSignal): Promise<AsyncDisposable> {
  const token = `${process.pid} ${randomBytes(8).toString('hex')}`
  let reported = ''
  for (;;) {
    signal?.throwIfAborted()
    if (await tryCreate(path, token)) return held(path, token)
    const age = await ageMs(path)
    if (age === undefined) continue
    if (age > STALE_MS) {
      // Two waiters could both see it stale; the window is a few milliseconds once per dead build.
      await rm(path, { force: true })
      continue
    }
    const owner = (await readFile(path, 'utf8').catch(() => '')).trim()
    if (owner !== reported) onWait(owner.split(' ')[0] ?? owner)
    reported = owner
    await sleep(POLL_MS, undefined, signal ? { signal } : {})
  }
}

/** Keeps `path` fresh until disposed, then removes it if it is still ours. */
function held(path: string, token: string): AsyncDisposable {
  const beat = keepFresh(path)
  return {
    async [Symbol.asyncDispose]() {
      clearInterval(beat)
      const content = await readFile(path, 'utf8').catch(() => '')
      if (content.trim() === token) await rm(path, { force: true })
    },
  }
}

/** Touches `path` every few seconds (for as long as the process lives) until the timer is cleared. */
export function keepFresh(path: string): NodeJS.Timeout {
  const timer = setInterval(() => {
    const now = new Date()
    utimes(path, now, now).catch(() => {})  // gone already: nothing to keep fresh
  }, BEAT_MS)
  timer.unref()
  return timer
}

/** Milliseconds since `path` was last touched, or undefined if it doesn't exist. */
export async function ageMs(path: string): Promise<number | undefined> {
  const stats = await stat(path).catch(() => undefined)
  return stats ? Date.now() - stats.mtimeMs : undefined
}

async function tryCreate(path: string, token: string): Promise<boolean> {
  const temp = `${path}.${randomBytes(6).toString('hex')}`
  await writeFile(temp, `${token}\n`)
  try {
    await link(temp, path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  } finally {
    await rm(temp, { force: true })
  }
}
