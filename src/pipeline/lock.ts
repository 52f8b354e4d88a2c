/** One build of a recipe at a time: `<work>/lock` holds the pid of the build that owns it. */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import { processAlive } from '../system/cleanup.ts'

export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true })
  const file = join(dir, 'lock')
  for (;;) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' })
      return () => rm(file, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const owner = Number(await readFile(file, 'utf8').catch(() => 'NaN'))
      if (owner && processAlive(owner)) {
        throw new PibakeError(`another pibake build of this recipe is running (pid ${owner})`, `wait for it, or stop it; the lock is ${file}`)
      }
      await rm(file, { force: true })
    }
  }
}

