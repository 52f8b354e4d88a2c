/**
 * Replacing the content of a file someone keeps (an administrator's recipe file, which may hold
 * password hashes): as writeDurable — a temporary name, flushed, renamed over the file, the folder
 * flushed — but the file keeps its mode and owner, and a symlink stays a symlink: the new content
 * goes to the file it points at. writeDurable makes a fresh 0644 file of the caller's, which is right
 * for files pibake owns and wrong here (a 0600 recipe would become world-readable).
 */
import { constants } from 'node:fs'
import { realpath, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { swapIn } from './durable.ts'

export async function replaceContent(path: string, content: string): Promise<void> {
  const file = await realpath(path)
  const before = await stat(file)
  if (!before.isFile()) throw new Error(`${path} is not a regular file; not replacing it`)
  // O_EXCL: never write through a name someone else put there (a leftover of ours is removed first).
  await rm(join(dirname(file), `.${basename(file)}.${process.pid}.new`), { force: true })
  await swapIn(file, content, {
    flags: constants.O_EXCL,
    mode: 0o600,
    settle: async (handle) => {
      // chown before chmod: chown clears set-id bits.
      await handle.chown(before.uid, before.gid)
      await handle.chmod(before.mode & 0o7777)
    },
  })
}
