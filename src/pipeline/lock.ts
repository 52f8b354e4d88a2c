/** One build of a recipe at a time: `<work>/lock` holds the pid of the build that owns it. */
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import { processAlive } from '../system/cleanup.ts'

/**
 * The lock file appears with the pid already in it: written to a name of this process, then
 * hard-linked to `lock` (which fails if it exists). Created empty and written after, another build
 * starting at the same moment could read it empty, take it for a dead holder's and remove it, and
 * both builds ran (test/faults/concurrent.test.ts, once in a CI rehearsal).
 */
export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true })
  const file = join(dir, 'lock')
  const mine = join(dir, `.lock.${process.pid}.${randomUUID()}`)
  await writeFile(mine, String(process.pid))
  try {
    for (;;) {
      try {
        await link(mine, file)
        return () => rm(file, { force: true })
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        const text = await readFile(file, 'utf8').catch(() => undefined)
        // Released meanwhile: try again, without removing what another build may have made since.
        if (text === undefined) continue
        const owner = Number(text)
        if (owner && processAlive(owner)) {
          throw new PibakeError(`another pibake build of this recipe is running (pid ${owner})`, `wait for it, or stop it; the lock is ${file}`)
        }
        // A dead holder's lock (two builds taking over the same dead lock at the same moment could
        // still both remove it: rare enough, left as it is).
        await rm(file, { force: true })
      }
    }
  } finally {
    await rm(mine, { force: true })
  }
}
