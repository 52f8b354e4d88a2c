/**
 * One demo build per image at a time, across processes: several test files and sessions use the
 * same out/demo. The lock is a file holding the builder's pid, made atomically (written under a
 * temporary name, then hard-linked to the lock's name, which fails if it exists); a lock whose
 * process is gone is stale and taken over.
 */
import { link, readFile, rm, writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'

const POLL_MS = 2000

export async function acquireBuildLock(path: string, onWait: (pid: number) => void, signal?: AbortSignal): Promise<AsyncDisposable> {
  let reported = 0
  for (;;) {
    signal?.throwIfAborted()
    if (await tryCreate(path)) return { [Symbol.asyncDispose]: () => release(path) }
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim())
    if (!isAlive(pid)) {
      await rm(path, { force: true })
      continue
    }
    if (reported !== pid) onWait(pid)
    reported = pid
    await sleep(POLL_MS, undefined, signal ? { signal } : {})
  }
}

async function tryCreate(path: string): Promise<boolean> {
  const temp = `${path}.${process.pid}`
  await writeFile(temp, `${process.pid}\n`)
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

async function release(path: string): Promise<void> {
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim())
  if (pid === process.pid) await rm(path, { force: true })
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
