/**
 * Files a later run trusts (manifests, build and site records, server configuration) are written so
 * that a power loss leaves the old file or the new one, never a torn or empty one: to a temporary
 * name, flushed, renamed over the old one, and the folder flushed so the rename itself survives.
 */
import { constants } from 'node:fs'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export async function writeDurable(path: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  // A temporary name of this process's own: two writers never share one.
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.new`)
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode)
  try {
    await handle.writeFile(content)
    await handle.chmod(mode)
    await handle.sync()
  } catch (error) {
    await handle.close()
    await rm(temp, { force: true })
    throw error
  }
  await handle.close()
  await rename(temp, path)
  const folder = await open(dirname(path), constants.O_RDONLY)
  await folder.sync().finally(() => folder.close())
}
