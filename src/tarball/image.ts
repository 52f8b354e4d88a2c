/**
 * A root tarball as a build's image: unpacked once into the cache, named by the tarball's sha256
 * (`<cache>/trees/<sha256>/`, holding `root/` and `boot/`), and used from there as the read-only
 * root under the build's layers, as a disk image's root partition is used through a loop mount.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { processAlive } from '../system/cleanup.ts'
import { BOOT_PREFIX } from './names.ts'
import { unpackInThread } from './unpack-thread.ts'

/** Where a tarball is unpacked: `root/` (and `boot/`, from `boot/firmware/` in it) for a root tarball, `boot/` for a boot tarball. */
export function tarballTree(cache: string, sha256: string): string {
  return join(cache, 'trees', sha256)
}

export interface UnpackImageOptions {
  /** `root`: the tree, its `boot/firmware/` apart in `boot/`; `boot`: the whole archive is the boot files. */
  readonly as: 'root' | 'boot'
  readonly signal?: AbortSignal
  readonly onProgress?: (done: number, total: number) => void
  /** Runs on the tarball's sha256 before the tree takes its cache name; throws to refuse it. */
  readonly check?: (sha256: string) => Promise<void>
}

/**
 * Unpacks `file` (read once, hashed on the way, on a thread of its own: unpack-thread.ts) into
 * `target` through a partial folder of this process's own, renamed into place once the sha256 is
 * checked. Resolves to the sha256.
 */
export async function unpackImageTarball(file: string, target: string, options: UnpackImageOptions): Promise<string> {
  await mkdir(join(target, '..'), { recursive: true })
  await removeDeadPartials(target)
  const partial = `${target}.${process.pid}.partial`
  await rm(partial, { recursive: true, force: true })
  const dirs = { root: join(partial, 'root'), boot: join(partial, 'boot') }
  try {
    await mkdir(dirs.boot, { recursive: true })
    if (options.as === 'root') await mkdir(dirs.root)
    const into = options.as === 'root' ? dirs.root : dirs.boot
    const split = options.as === 'root' ? { prefix: BOOT_PREFIX, dir: dirs.boot } : undefined
    const sha256 = await unpackInThread({ file, into, ...(split ? { split } : {}) }, { ...(options.signal ? { signal: options.signal } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) })
    await options.check?.(sha256)
    await rename(partial, target).catch(async (error: NodeJS.ErrnoException) => {
      // Another build unpacked the same tarball meanwhile: its tree is this one.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error
      await rm(partial, { recursive: true, force: true })
    })
    return sha256
  } catch (error) {
    await rm(partial, { recursive: true, force: true })
    throw error
  }
}

/** `<tree>.<pid>.partial` folders of processes that are gone (killed while unpacking). */
async function removeDeadPartials(target: string): Promise<void> {
  const dir = join(target, '..')
  const prefix = `${basename(target)}.`
  for (const name of await readdir(dir)) {
    const pid = name.startsWith(prefix) && name.endsWith('.partial') ? Number(name.slice(prefix.length, -'.partial'.length)) : NaN
    if (Number.isInteger(pid) && !processAlive(pid)) await rm(join(dir, name), { recursive: true, force: true })
  }
}
