/**
 * One publish of a recipe to a host at a time: `<nfs>/<recipe>/.pibake-lock` names its holder
 * (machine, pid, since) and is refreshed while the publish runs; and one change of a site's records
 * at a time (`<config>/.pibake-site-lock`), which a publish waits for. A lock whose holder is gone (a pid
 * of this machine no longer running, or no refresh for STALE_MS) is taken over.
 *
 * Never two holders, on local files as over SSH, with three operations each atomic on the host:
 * - Each holder has a token (pid and a random nonce) and a file of its own, its claim
 *   `<lock>.<token>`, written first; it holds the lock once `link(claim, lock)` succeeds (a hard link
 *   fails when `lock` exists, and the lock appears with its holder already in it). `lock` and the
 *   claim are then one file: refreshing is `touch(claim)`, which never creates it, so it touches
 *   the lock only while the lock is still this holder's.
 * - Whoever removes the lock (its holder releasing, or a waiter taking a dead holder's over) first
 *   `unlink`s the holder's claim: of all who try, exactly one succeeds, and only that one then
 *   removes `lock`. Until it does, `lock` stays (nothing else removes it, nothing can replace it),
 *   so what it removes is that holder's lock and never one taken since.
 *   (Removing `lock` itself, or renaming it away and checking what was taken, cannot be made safe:
 *   between another waiter's look and its remove, the dead lock may be gone and a live one there.)
 * - A holder whose claim is gone has lost the lock (it stopped refreshing for STALE_MS and was
 *   taken over): its refresh and release leave the lock alone, and its release says so.
 * A lock without its claim is one being removed this moment, or by a pibake that died in between,
 * or one written by an older pibake: it is waited for, and once it has been so for STALE_MS, its
 * claim is made again (createExclusive: once), and taken over as any other.
 */
import { createHash, randomBytes } from 'node:crypto'
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
  /** `<pid>-<nonce>`: names the holder's claim; missing in the locks of older versions. */
  readonly token?: string
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
const TOKEN = /^\d+-[0-9a-f]{16}$/

/** The lock as a waiter finds it. */
interface Found {
  readonly text: string
  readonly claim: string
  readonly named: string
  readonly dead: boolean
}

async function takeLock(files: HostFiles, dir: string, name: string, options: LockOptions): Promise<() => Promise<void>> {
  const file = join(dir, name)
  const me: Holder = { machine: hostname(), pid: process.pid, since: new Date().toISOString(), token: `${process.pid}-${randomBytes(8).toString('hex')}` }
  const claim = `${file}.${me.token}`
  await files.mkdir(dir)
  await files.writeAtomic(claim, JSON.stringify(me))
  try {
    await acquire(files, file, claim, options)
  } catch (error) {
    await files.unlink(claim)
    throw error
  }
  let lost = false
  // A failed refresh is retried at the next tick; a lock left unrefreshed only becomes stale.
  const refresh = async () => void (lost ||= !(await files.touch(claim)))
  const timer = setInterval(() => void refresh().catch(() => undefined), REFRESH_MS)
  timer.unref()
  return async () => {
    clearInterval(timer)
    if (!lost && (await files.unlink(claim))) return files.remove(file)
    throw new PibakeError(
      `${options.what}: this pibake's lock was taken over while it held it (not refreshed for ${STALE_MS / 1000} s)`,
      `another pibake may have made changes at the same time: check ${files.describe(dir)}, and publish again`,
    )
  }
}

async function acquire(files: HostFiles, file: string, claim: string, options: LockOptions): Promise<void> {
  let waited = false
  /** The lock without its claim, as first seen so, and when. */
  let orphan: { text: string; at: number } | undefined
  while (!(await files.link(claim, file))) {
    const found = await look(files, file)
    if (!found) continue
    if (found.dead) {
      // Of the waiters that found it dead, the one whose unlink succeeds removes it; the others try again.
      if (await files.unlink(found.claim)) {
        await files.remove(file)
        continue
      }
      if (orphan?.text !== found.text) orphan = { text: found.text, at: Date.now() }
      else if (Date.now() - orphan.at > STALE_MS) {
        // Whoever was removing it (its claim is gone) died meanwhile: its claim made again, it is taken over as above.
        await files.createExclusive(found.claim, '')
        continue
      }
    } else {
      orphan = undefined
      if (!options.wait) {
        throw new PibakeError(
          `${options.what} ${options.busy} (${found.named})`,
          `wait for it to finish; a lock not refreshed for ${STALE_MS / 1000} s is taken over (${files.describe(file)})`,
        )
      }
      if (!waited) options.onWait?.(found.named)
      waited = true
    }
    options.signal?.throwIfAborted()
    // Aborted while waiting: the abort's own reason (the interrupt), not the timer's AbortError.
    await sleep(WAIT_POLL_MS, undefined, options.signal ? { signal: options.signal } : {}).catch((error: unknown) => {
      options.signal?.throwIfAborted()
      throw error
    })
  }
}

/** The lock's holder and whether it is gone; undefined when the lock went meanwhile. */
async function look(files: HostFiles, file: string): Promise<Found | undefined> {
  const text = await files.readText(file)
  const mtime = await files.mtime(file)
  if (text === undefined || mtime === undefined) return undefined
  const holder = parse(text)
  const dead = holder?.machine === hostname() ? !processAlive(holder.pid) : Date.now() - mtime > STALE_MS
  // A lock of an older pibake (or torn) has no token: its claim is named by its content. A token
  // is only ever a pid and hex digits: the claim is a file beside the lock and nowhere else.
  const token = holder?.token && TOKEN.test(holder.token) ? holder.token : createHash('sha256').update(text.trim()).digest('hex').slice(0, 16)
  const named = holder ? `pid ${holder.pid} on ${holder.machine}, since ${holder.since}` : 'unknown holder'
  return { text, claim: `${file}.${token}`, named, dead }
}

function parse(text: string): Holder | undefined {
  try {
    const value = JSON.parse(text) as Holder
    return typeof value.pid === 'number' && typeof value.machine === 'string' ? value : undefined
  } catch {
    return undefined
  }
}
