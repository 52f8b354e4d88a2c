/**
 * debugfs (e2fsprogs): reads single files out of an ext4 partition inside a disk image, with no loop
 * device and no mount (`IMG?offset=<bytes>`), so nothing is left to undo. For looking at an image
 * (`pibake init`), not for building one: it drops metadata (HOST-NOTES.md).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import { exec } from './exec.ts'

/** The file at `path` (absolute, in the partition), or undefined when there is none or it is not a regular file. */
export async function readExt4File(image: string, offset: number, path: string, signal?: AbortSignal): Promise<Buffer | undefined> {
  // debugfs parses its -R request itself: a path with spaces or quotes could name another command.
  if (!/^\/[A-Za-z0-9._+/-]+$/.test(path)) throw new PibakeError(`readExt4File: refusing the path ${JSON.stringify(path)}`)
  // `IMG?offset=` ends the file name at the first "?": an image whose path holds one is refused.
  if (image.includes('?')) throw new PibakeError(`readExt4File: the image path ${JSON.stringify(image)} holds a "?"`, 'rename or link the image to a path without one')
  const dir = await mkdtemp(join(tmpdir(), 'pibake-debugfs-'))
  try {
    // Dumped to a fixed name in debugfs' working folder: no path of the host's (TMPDIR) enters the request.
    await exec(['debugfs', '-R', `dump ${path} file`, `${image}?offset=${offset}`], {
      cwd: dir,
      signal,
      hint: `${image} has no readable ext4 file system at byte ${offset}`,
    })
    return await readFile(join(dir, 'file')).catch(() => undefined)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
