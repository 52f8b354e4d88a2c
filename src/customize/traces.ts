/**
 * What a customize step leaves in its layer that carries the clock or the host, not the recipe: left
 * out of every step's layer (removed from the unmounted upper folder, so that the image's own file,
 * if it has one, shows through again), so that the same recipe built twice gives the same tree.
 *
 * - the logs of dpkg, apt and update-alternatives: every line starts with the time it was written
 *   (and on a node `/var/log` is a tmpfs anyway: see stages/netboot.ts);
 * - ldconfig's `/var/cache/ldconfig/aux-cache`: a cache of each library's inode and change time,
 *   which no two builds share (ldconfig works without it and writes it again when it runs).
 *
 * What else could differ is taken care of elsewhere: every command in the image runs with
 * SOURCE_DATE_EPOCH set (useradd's and chpasswd's dates in /etc/shadow, Python's byte-code), and
 * every entry a step writes is dated with it (repro/clamp.ts).
 */
import { lstat, rm } from 'node:fs/promises'
import { join } from 'node:path'

/** Paths in the image's root that no step's layer keeps. */
export const CLOCK_TRACES: readonly string[] = [
  '/var/log/dpkg.log',
  '/var/log/alternatives.log',
  '/var/log/apt/history.log',
  '/var/log/apt/term.log',
  '/var/log/apt/eipp.log.xz',
  '/var/cache/ldconfig/aux-cache',
]

/** Removes the CLOCK_TRACES that the layer `dir` (unmounted) holds in its `root/`; returns the paths removed. */
export async function dropClockTraces(dir: string): Promise<string[]> {
  const dropped: string[] = []
  for (const path of CLOCK_TRACES) {
    const file = join(dir, 'root', path)
    // Only a file the step wrote: a whiteout (a character device) records that the step removed it.
    if (!(await lstat(file).catch(() => undefined))?.isFile()) continue
    await rm(file)
    dropped.push(path)
  }
  return dropped
}
