/**
 * One build of a recipe at a time: `<work>/lock` names the build that holds it (its pid and a token
 * of its own). A dead build's lock is taken over, by one build only (the same way as the site's lock,
 * src/publish/lock.ts, on this machine's files):
 * - The lock appears with its holder already in it: written to the holder's own claim,
 *   `lock.<token>`, then hard-linked to `lock` (which fails if it exists). Created empty and written
 *   after, another build starting at the same moment read it empty and removed it, and both ran.
 * - Whoever removes the lock (its holder, or a build taking a dead holder's over) first unlinks the
 *   holder's claim: of several at once, one succeeds, and only that one removes `lock`, which until
 *   then nobody else removes or replaces. Removing `lock` itself, two builds that both found it dead
 *   could both remove it, the second removing the lock the first had just taken.
 * - A lock without its claim is being removed this moment, or its remover died in between, or an
 *   older pibake wrote it: once unchanged (its ctime, which the claim's unlink sets) for ORPHAN_MS,
 *   its claim is made again, once (O_EXCL), and it is taken over as above.
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PibakeError } from '../errors.ts'
import { processAlive } from '../system/cleanup.ts'

const ORPHAN_MS = 5000
const TOKEN = /^\d+-[0-9a-f]{16}$/

export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true })
  const file = join(dir, 'lock')
  const token = `${process.pid}-${randomBytes(8).toString('hex')}`
  const claim = `${file}.${token}`
  await writeFile(claim, `${process.pid} ${token}\n`)
  try {
    for (;;) {
      if (await link(claim, file).then(() => true, ifCode('EEXIST', false))) {
        return async () => {
          if (await unlinked(claim)) await rm(file, { force: true })
        }
      }
      const holder = await look(file)
      // Released meanwhile: try again, without removing what another build may have made since.
      if (!holder) continue
      if (holder.pid && processAlive(holder.pid)) {
        throw new PibakeError(`another pibake build of this recipe is running (pid ${holder.pid})`, `wait for it, or stop it; the lock is ${file}`)
      }
      if (await unlinked(holder.claim)) await rm(file, { force: true })
      else if (Date.now() - holder.changed > ORPHAN_MS) await writeFile(holder.claim, '', { flag: 'wx' }).catch(ifCode('EEXIST', undefined))
      else await sleep(50)
    }
  } catch (error) {
    await rm(claim, { force: true })
    throw error
  }
}

/** The lock's holder, its claim and when the lock last changed; undefined when it is gone. */
async function look(file: string): Promise<{ pid: number; claim: string; changed: number } | undefined> {
  const [text, info] = await Promise.all([readFile(file, 'utf8').catch(ifCode('ENOENT', undefined)), stat(file).catch(ifCode('ENOENT', undefined))])
  if (text === undefined || info === undefined) return undefined
  const [pid, token] = text.trim().split(' ')
  // An older pibake's lock (a pid alone) has no token: its claim is named after its pid.
  return { pid: Number(pid), claim: `${file}.${token && TOKEN.test(token) ? token : `old-${Number(pid)}`}`, changed: info.ctimeMs }
}

async function unlinked(path: string): Promise<boolean> {
  return unlink(path).then(() => true, ifCode('ENOENT', false))
}

function ifCode<T>(code: string, value: T): (error: NodeJS.ErrnoException) => T {
  return (error) => {
    if (error.code === code) return value
    throw error
  }
}
