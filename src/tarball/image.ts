/**
 * A root tarball as a build's image: unpacked once into the cache, named by the tarball's sha256
 * (`<cache>/trees/<sha256>/`, holding `root/` and `boot/`), and used from there as the read-only
 * root under the build's layers, as a disk image's root partition is used through a loop mount.
 */
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { CommandError, PibakeError } from '../errors.ts'
import { processAlive } from '../system/cleanup.ts'
import { TarballEntryError } from './names.ts'
import { TarballDamagedError } from './unpack.ts'
import { ABORT, type SentError, type UnpackJob, type UnpackReport } from './unpack-worker.ts'

/** Where the boot partition's files are inside a root tarball. */
export const BOOT_PREFIX = 'boot/firmware'

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
 * Unpacks `file` (read once, hashed on the way, in a worker thread: unpack-worker.ts) into `target`
 * through a partial folder of this process's own, renamed into place once the sha256 is checked.
 * Resolves to the sha256.
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
    const total = (await stat(file)).size
    const into = options.as === 'root' ? dirs.root : dirs.boot
    const split = options.as === 'root' ? { prefix: BOOT_PREFIX, dir: dirs.boot } : undefined
    const sha256 = await unpackInWorker({ file, into, ...(split ? { split } : {}) }, options.signal, (done) => options.onProgress?.(done, total))
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

/** The worker's module: the source next to this one, or the compiled file next to the compiled one. */
const WORKER = new URL(import.meta.url.endsWith('.ts') ? './unpack-worker.ts' : './unpack-worker.js', import.meta.url)

/**
 * Runs `job` in a worker thread; resolves to the tarball's sha256 once the worker ended (its
 * decompressor stopped, nothing written any more), or rejects with its error (an abort: with the
 * signal's reason).
 */
function unpackInWorker(job: UnpackJob, signal: AbortSignal | undefined, onProgress: (done: number) => void): Promise<string> {
  signal?.throwIfAborted()
  const worker = new Worker(WORKER, { workerData: { unpackJob: job } })
  const abort = () => worker.postMessage(ABORT)
  signal?.addEventListener('abort', abort, { once: true })
  let outcome: { sha256: string } | { error: unknown } | undefined
  return new Promise<string>((resolve, reject) => {
    worker.on('message', (report: UnpackReport) => {
      if ('progress' in report) return onProgress(report.progress)
      outcome = 'done' in report ? { sha256: report.done.sha256 } : { error: report.aborted && signal?.aborted ? signal.reason : revive(report.failed) }
      // Its work is over: the thread ends now rather than when its port is collected.
      void worker.terminate()
    })
    worker.on('error', (error) => (outcome ??= { error }))
    worker.on('exit', () => {
      signal?.removeEventListener('abort', abort)
      if (!outcome) reject(new Error(`the worker unpacking ${job.file} ended without a result`))
      else if ('sha256' in outcome) resolve(outcome.sha256)
      else reject(outcome.error)
    })
  })
}

/** The classes the worker's errors are rebuilt as (with `instanceof`, hint and fields), by name. */
const CLASSES: Readonly<Record<string, { prototype: Error }>> = { PibakeError, CommandError, TarballDamagedError, TarballEntryError }

/** The error the worker sent, as an instance of its class where pibake has it (else a plain Error with its fields: code, path…). */
function revive(sent: SentError): Error {
  const error = Object.create((CLASSES[sent.className] ?? Error).prototype) as Error
  Object.defineProperties(error, {
    message: { value: sent.message, writable: true, configurable: true },
    stack: { value: sent.stack, writable: true, configurable: true },
    ...(sent.cause === undefined ? {} : { cause: { value: new Error(sent.cause), writable: true, configurable: true } }),
  })
  return Object.assign(error, sent.props)
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
