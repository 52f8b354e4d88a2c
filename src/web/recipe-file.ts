/**
 * Which recipe file the page may build or edit. The page runs as root, and `pibake build <file>`
 * runs the file's code as root, so the file is the one thing an attacker would most like to name.
 * It comes from the recipe's site record (`file`), never from the request; but a record is data on
 * disk, written by whoever could write there, so it is not trusted blindly either: the file must
 * exist here, be a regular file owned by root (or by the user the server runs as) and writable by
 * no one else, and so must every folder above it (unless sticky, as /tmp is, where no one else can
 * rename a root file away) — otherwise another user could edit it, or swap it between this check and
 * the build, and have root run their code. Its real path is what gets built and written.
 */
import { realpath, stat } from 'node:fs/promises'
import { dirname, isAbsolute } from 'node:path'
import { PibakeError } from '../errors.ts'
import type { SiteRecord } from '../site/record.ts'

/**
 * The real path of the record's recipe file, once it passes the checks above. `by` says who would
 * run it, for the refusal: the page (default), or a command given the recipe's name.
 */
export async function trustedRecipeFile(record: SiteRecord, by: 'page' | 'command' = 'page'): Promise<string> {
  const named = record.file as unknown
  if (typeof named !== 'string' || !isAbsolute(named)) throw refused(record, by, 'its record names no absolute recipe file')
  const file = await realpath(named).catch(() => undefined)
  const found = file === undefined ? undefined : await stat(file)
  if (!file || !found?.isFile()) {
    throw new PibakeError(`${record.recipe} was published from ${named}, which is not on this machine`, by === 'page' ? 'run pibake serve where the recipes are, or build there with the command line' : 'give the recipe file instead of its name')
  }
  const owner = process.getuid?.() ?? 0
  const trusted = (uid: number) => uid === 0 || uid === owner
  if (!trusted(found.uid) || found.mode & 0o022) throw refused(record, by, `${file} is owned by uid ${found.uid}, mode ${(found.mode & 0o7777).toString(8)}: others could change what root builds`)
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const folder = await stat(dir)
    if (!trusted(folder.uid) || (folder.mode & 0o022 && !(folder.mode & 0o1000))) {
      throw refused(record, by, `its folder ${dir} is owned by uid ${folder.uid}, mode ${(folder.mode & 0o7777).toString(8)}: others could put another file in its place`)
    }
    if (dir === dirname(dir)) return file
  }
}

function refused(record: SiteRecord, by: 'page' | 'command', why: string): PibakeError {
  if (by === 'command') return new PibakeError(`not running ${record.recipe}'s recipe file, named by its site record: ${why}`, 'make the recipe file and its folders root\'s and writable by root alone (chown root:, chmod go-w), or give the file itself')
  return new PibakeError(`not building or editing ${record.recipe}'s recipe file from the page: ${why}`, 'make the recipe file and its folders root\'s and writable by root alone (chown root:, chmod go-w), or build it with the command line')
}
