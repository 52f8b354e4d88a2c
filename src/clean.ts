/**
 * `pibake clean`: undoes what a run that was killed outright (SIGKILL, power loss) left on the
 * host. Runs that are still alive are left alone.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { journalDir } from './pipeline/workspace.ts'
import { orphanJournals, liveJournals, type Effect } from './system/cleanup.ts'
import { detachLoop, listLoops, loopsOf, markedForRemoval } from './system/losetup.ts'
import { isMounted, mountSources, mountsUnder, unmount } from './system/mount.ts'
import { resolvePath } from './system/paths.ts'
import { CommandError, PibakeError } from './errors.ts'

/**
 * Undoes every leftover effect under `<out>`; returns a line per thing undone, or throws naming
 * what could not be undone (after trying everything else). `out` is resolved first: the mount
 * table holds real paths, and an `out` behind a symbolic link matches none of them.
 *
 * Mounts go first, all of them, then loop devices and paths: a run killed between making a mount
 * and writing it down left a mount no journal names on a loop device a journal does name, and a
 * loop device cannot go while a mount uses it (the kernel only marks it for removal).
 */
export async function clean(out: string): Promise<string[]> {
  const outDir = resolvePath(out)
  const done: string[] = []
  const failed: string[] = []
  const attempt = async (what: string, undo: () => Promise<string | undefined>): Promise<boolean> => {
    try {
      const line = await undo()
      if (line) done.push(line)
      return true
    } catch (error) {
      // A program's own words (umount: target is busy) say more than its command line.
      const reason = error instanceof CommandError && error.stderrTail ? error.stderrTail.trim().split('\n').pop() : error instanceof Error ? error.message.split('\n')[0] : String(error)
      failed.push(`${what}: ${reason}`)
      return false
    }
  }
  // The mount table is read before the live runs' journals: a run writes a mount down before it
  // makes it, so every mount of a live run in this table is in a journal read after it.
  const mountedNow = await mountsUnder(join(outDir, 'work'))
  const orphans = orphanJournals(journalDir(outDir))
  const live = liveJournals(journalDir(outDir)).flatMap((j) => j.effects)
  const busy = new Set(live.flatMap((e) => (e.kind === 'mount' ? [e.target] : [])))
  for (const target of mountedNow) {
    if (busy.has(target)) continue
    await attempt(`unmount ${target}`, async () => (await unmountIfMounted(target)) ? `unmounted ${target}` : undefined)
  }
  for (const journal of orphans) {
    let complete = true
    for (const effect of [...journal.effects].reverse()) complete = (await attempt(describe(effect), () => undo(effect))) && complete
    if (complete) await rm(journal.file, { force: true })
  }
  // A run killed between attaching a loop device and writing it down: a device on an image in
  // out/'s cache that no live run recorded and nothing has mounted.
  const held = new Set(live.flatMap((e) => (e.kind === 'loop' ? [e.device] : [])))
  const mounted = await mountSources()
  for (const { device, file } of await listLoops()) {
    if (!file.startsWith(`${join(outDir, 'cache')}/`) || held.has(device) || mounted.has(device)) continue
    await attempt(`detach ${device} (${file})`, () => detach(device, file))
  }
  if (failed.length) {
    throw new PibakeError(
      `pibake clean could not undo everything under ${outDir}:\n${failed.map((line) => `  ${line}`).join('\n')}${done.length ? `\nundone:\n${done.map((line) => `  ${line}`).join('\n')}` : ''}`,
      'a program still uses it: `fuser -vm <mount point>`, `losetup -a`; stop that program, then run pibake clean again',
    )
  }
  return done
}

function describe(effect: Effect): string {
  switch (effect.kind) {
    case 'mount':
      return `unmount ${effect.target}`
    case 'loop':
      return `detach ${effect.device} (${effect.file})`
    case 'path':
      return `remove ${effect.path}`
  }
}

async function unmountIfMounted(target: string): Promise<boolean> {
  if (!(await isMounted(target))) return false
  await unmount(target)
  return true
}

async function undo(effect: Effect): Promise<string | undefined> {
  switch (effect.kind) {
    case 'mount':
      return (await unmountIfMounted(effect.target)) ? `unmounted ${effect.target}` : undefined
    case 'loop':
      if (!(await loopsOf(effect.file)).includes(effect.device)) return undefined
      // The kernel would only mark it for removal: the mount on it could not be undone (said above).
      if ((await mountSources()).has(effect.device)) throw new Error('it is still mounted')
      return detach(effect.device, effect.file)
    case 'path':
      await rm(effect.path, { recursive: true, force: true })
      return `removed ${effect.path}`
  }
}

/**
 * Detaches a loop device nothing in this mount namespace uses. A mount namespace another program
 * made while the device was mounted keeps a copy of that mount (its own, out of reach): the kernel
 * then frees the device when that namespace ends. Said so; not a failure of clean.
 */
async function detach(device: string, file: string): Promise<string> {
  try {
    await detachLoop(device, file)
    return `detached ${device} (${file})`
  } catch (error) {
    if (!(await markedForRemoval(device))) throw error
    return `detached ${device} (${file}); another program's mount namespace still holds it, and the kernel frees it when that ends`
  }
}
