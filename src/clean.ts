/**
 * `pibake clean`: undoes what a run that was killed outright (SIGKILL, power loss) left on the
 * host. Runs that are still alive are left alone.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { journalDir } from './pipeline/workspace.ts'
import { orphanJournals, liveJournals, type Effect } from './system/cleanup.ts'
import { detachLoop, loopsOf } from './system/losetup.ts'
import { isMounted, mountsUnder, unmount } from './system/mount.ts'
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
  const busy = new Set(liveJournals(journalDir(outDir)).flatMap((j) => j.effects.flatMap((e) => (e.kind === 'mount' ? [e.target] : []))))
  for (const target of await mountsUnder(join(outDir, 'work'))) {
    if (busy.has(target)) continue
    await unmount(target)
    done.push(`unmounted ${target}`)
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
