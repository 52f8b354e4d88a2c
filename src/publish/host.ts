/**
 * A machine that publish writes to: this one (a local folder, or one mounted here) or one reached
 * over SSH. Publishing and the site speak only to this interface; which kind it is stays here.
 */
import { link, mkdir, readdir, realpath, stat, writeFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import PQueue from 'p-queue'
import { PibakeError } from '../errors.ts'
import { exec, type ExecResult } from '../system/exec.ts'
import { copyTree } from '../system/cp.ts'
import { rsync, type RsyncOptions, type RsyncStats } from '../system/rsync.ts'
import { deltaTree, treeSize } from './delta.ts'
import { localFiles, type HostFiles } from './files.ts'

export type SyncOptions = Omit<RsyncOptions, 'remote'>

export interface Host {
  /** `this machine`, or `root@nfs1:2222`. */
  readonly name: string
  readonly files: HostFiles
  /** Copies a local directory's contents into `dest` on the host (rsync, or SFTP where the host has none). */
  sync(source: string, dest: string, options: SyncOptions): Promise<RsyncStats>
  /**
   * Fills the empty folder `dest` with a copy of the local tree `source` where the host can do that
   * faster than rsync: a first copy (`cp -a`), or, given the previous build and the paths that may
   * differ from it, a hard-linked copy of it with those paths brought in line. Undefined when it
   * cannot (over SSH, or a change only rsync can tell): the caller syncs instead.
   */
  copyTree(source: string, dest: string, options: TreeCopyOptions): Promise<RsyncStats | undefined>
  /**
   * Makes each `dir` a copy of `from` whose files are hard links to `from`'s (no content copied),
   * except its `own` files (name → text, at its top), which are its alone.
   */
  linkCopies(from: string, copies: readonly LinkCopy[], signal?: AbortSignal): Promise<void>
  /** An administrator's command line, run by the host's shell. */
  shell(command: string, options?: { signal?: AbortSignal | undefined; onLine?: (line: string) => void }): Promise<ExecResult>
  /** Whether the host can receive with rsync (without it, trees go over SFTP, file by file). */
  hasRsync(): Promise<boolean>
  /** Throws unless `path`, with every symlink on the host resolved, stays inside `root`. */
  confine(root: string, path: string): Promise<void>
  close(): Promise<void>
}

/** One folder of `Host.linkCopies`: where it goes, and its own files (name → text) in place of the shared ones. */
export interface LinkCopy {
  readonly dir: string
  readonly own: Readonly<Record<string, string>>
}

export interface TreeCopyOptions {
  /** The previous build on the host: its folder, its size, and the paths (relative) in which `source` may differ from it. */
  readonly previous?: { readonly path: string; readonly totalBytes: number; readonly changed?: readonly string[] } | undefined
  readonly signal?: AbortSignal | undefined
}

export function localHost(): Host {
  return {
    name: 'this machine',
    files: localFiles(),
    sync: (source, dest, options) => rsync(source, dest, options),
    copyTree: (source, dest, options) => copyLocalTree(source, dest, options),
    linkCopies: async (from, copies, signal) => {
      const tree = await listTree(from)
      const queue = new PQueue({ concurrency: 16 })
      await queue.addAll(copies.map((copy) => () => linkTree(tree, copy, signal)))
    },
    shell: (command, options = {}) => exec(['sh', '-c', command], { signal: options.signal, onLine: options.onLine }),
    hasRsync: async () => true,
    confine: async (root, path) => confined(root, path, await realpath(root), await resolveExisting(path)),
    close: async () => {},
  }
}

async function copyLocalTree(source: string, dest: string, { previous, signal }: TreeCopyOptions): Promise<RsyncStats | undefined> {
  if (!previous) {
    const [size] = await Promise.all([treeSize(source), copyTree(source, dest, signal)])
    return { files: size.entries, transferred: size.files, literalBytes: size.bytes, totalBytes: size.bytes }
  }
  if (!previous.changed) return undefined
  const delta = await deltaTree(source, previous.path, dest, previous.changed, signal)
  return delta && { files: 0, transferred: delta.transferred, literalBytes: delta.copiedBytes, totalBytes: previous.totalBytes + delta.bytesDelta }
}

/** `path` with its existing part resolved (the rest does not exist yet, so it cannot be a link). */
async function resolveExisting(path: string): Promise<string> {
  const parts: string[] = []
  let here = path
  for (;;) {
    try {
      return join(await realpath(here), ...parts.reverse())
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || here === '/') throw error
      parts.push(here.slice(here.lastIndexOf('/') + 1))
      here = here.slice(0, here.lastIndexOf('/')) || '/'
    }
  }
}

export function confined(root: string, path: string, resolvedRoot: string, resolvedPath: string): void {
  const inside = relative(resolvedRoot, resolvedPath)
  if (inside === '' || (!inside.startsWith(`..${sep}`) && inside !== '..' && !inside.startsWith(sep))) return
  throw new PibakeError(
    `${path} leads outside ${root} (it resolves to ${resolvedPath}): refusing to write there`,
    'a symlink in the published tree points elsewhere; remove it on the server (pibake never writes through one)',
  )
}

interface Listed {
  /** Folders below the root (parents first), with their modes; the root's own mode first. */
  readonly dirs: readonly { readonly path: string; readonly mode: number }[]
  /** Everything else, as paths under the root. */
  readonly files: readonly string[]
  readonly root: string
}

/** The tree under `root`, read once for any number of linked copies. */
async function listTree(root: string): Promise<Listed> {
  const dirs = [{ path: '', mode: (await stat(root)).mode & 0o7777 }]
  const files: string[] = []
  for (let i = 0; i < dirs.length; i++) {
    const dir = dirs[i]!.path
    for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) dirs.push({ path, mode: (await stat(join(root, path))).mode & 0o7777 })
      else files.push(path)
    }
  }
  return { root, dirs, files }
}

/** A copy of the listed tree at `copy.dir`, every file hard-linked (fs.link, no process) but its own ones, written; folders made anew. */
async function linkTree(tree: Listed, copy: LinkCopy, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  for (const dir of tree.dirs) await mkdir(join(copy.dir, dir.path), { mode: dir.mode })
  const shared = tree.files.filter((path) => !(path in copy.own))
  await Promise.all([
    ...shared.map((path) => link(join(tree.root, path), join(copy.dir, path))),
    ...Object.entries(copy.own).map(([name, text]) => writeFile(join(copy.dir, name), text, { mode: 0o644 })),
  ])
}
