/**
 * Files a later run trusts (manifests, build and site records, server configuration) are written so
 * that a power loss leaves the old file or the new one, never a torn or empty one: to a temporary
 * name, flushed, renamed over the old one, and the folder flushed so the rename itself survives.
 */
import { constants } from 'node:fs'
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export async function writeDurable(path: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  await swapIn(path, content, { flags: constants.O_TRUNC, mode, settle: (handle) => handle.chmod(mode) })
}

export interface SwapOptions {
  /** Added to O_WRONLY | O_CREAT when the temporary file is opened (O_TRUNC, or O_EXCL). */
  readonly flags: number
  /** The temporary file's mode when it is created. */
  readonly mode: number
  /** Gives the written file its mode (and owner) before it is flushed and renamed into place. */
  readonly settle: (handle: FileHandle) => Promise<void>
}

/**
 * The one durable replace: `content` to `.<name>.<pid>.new` beside `path` (a temporary name of this
 * process's own: two writers never share one), settled, flushed, renamed over `path`, folder flushed.
 */
export async function swapIn(path: string, content: string | Uint8Array, options: SwapOptions): Promise<void> {
  const folder = dirname(path)
  const temp = join(folder, `.${basename(path)}.${process.pid}.new`)
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | options.flags, options.mode)
  try {
    await handle.writeFile(content)
    await options.settle(handle)
    await handle.sync()
  } catch (error) {
    await handle.close()
    await rm(temp, { force: true })
    throw error
  }
  await handle.close()
  await rename(temp, path)
  const dir = await open(folder, constants.O_RDONLY)
  await dir.sync().finally(() => dir.close())
}
