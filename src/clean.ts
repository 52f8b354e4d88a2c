/**
 * `pibake clean`: undoes what a run that was killed outright (SIGKILL, power loss) left on the
 * host. Runs that are still alive are left alone.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { journalDir } from './pipeline/workspace.ts'
import { orphanJournals, liveJournals, type Effect } from './system/cleanup.ts'
import { detachLoop, listLoops, loopsOf } from './system/losetup.ts'
import { isMounted, mountSources, mountsUnder, unmount } from './system/mount.ts'
import { resolvePath } from './system/paths.ts'

/**
 * Undoes every leftover effect under `<out>`; returns a line per thing undone. `out` is resolved
 * first: the mount table holds real paths, and an `out` behind a symbolic link matches none of them.
 */
export async function clean(out: string): Promise<string[]> {
  const outDir = resolvePath(out)
  const done: string[] = []
  for (const journal of orphanJournals(journalDir(outDir))) {
    for (const effect of [...journal.effects].reverse()) {
      const undone = await undo(effect)
      if (undone) done.push(undone)
    }
    await rm(journal.file, { force: true })
  }
  const live = liveJournals(journalDir(outDir)).flatMap((j) => j.effects)
  const busy = new Set(live.flatMap((e) => (e.kind === 'mount' ? [e.target] : [])))
  for (const target of await mountsUnder(join(outDir, 'work'))) {
    if (busy.has(target)) continue
    await unmount(target)
    done.push(`unmounted ${target}`)
  }
  // A run killed between attaching a loop device and writing it down: a device on an image in
  // out/'s cache that no live run recorded and nothing has mounted.
  const held = new Set(live.flatMap((e) => (e.kind === 'loop' ? [e.device] : [])))
  const mounted = await mountSources()
  for (const { device, file } of await listLoops()) {
    if (!file.startsWith(`${join(outDir, 'cache')}/`) || held.has(device) || mounted.has(device)) continue
    // Held by a mount in another program's namespace, it goes when that namespace ends: say so, go on.
    const failed = await detachLoop(device).then(() => undefined, (error: unknown) => (error instanceof Error ? error.message : String(error)))
    done.push(failed ? `could not detach ${device} (${file}): ${failed.split('\n')[0]}` : `detached ${device} (${file})`)
  }
  return done
}


async function undo(effect: Effect): Promise<string | undefined> {
  switch (effect.kind) {
    case 'mount':
      if (!(await isMounted(effect.target))) return undefined
      await unmount(effect.target)
      return `unmounted ${effect.target}`
    case 'loop':
      if (!(await loopsOf(effect.file)).includes(effect.device)) return undefined
      await detachLoop(effect.device)
      return `detached ${effect.device} (${effect.file})`
    case 'path':
      await rm(effect.path, { recursive: true, force: true })
      return `removed ${effect.path}`
  }
}
