/**
 * A target host reached over SSH. Trees go with rsync over the SSH connection (or SFTP when the
 * host has no rsync); small files, links, renames and removals are single commands over the same
 * connection, each written to a temporary name and renamed, flushed first, so the host's readers see
 * old or new and a power loss there keeps one of them.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { PibakeError } from '../errors.ts'
import { SshConnection, type SshDestination } from '../system/ssh.ts'
import { rsync } from '../system/rsync.ts'
import { MAX_TEXT_BYTES, tooLarge, type HostFiles } from './files.ts'
import { confined, type Host, type SyncOptions } from './host.ts'

/** Exit status the helper scripts below use for "not there". */
const MISSING = 3

/** Paths per command of a batched operation: a few hundred paths stay well under ssh's 128 KiB command line. */
const BATCH = 200

function batches<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))
}

/** Points the symlink "$1" at "$2" with one rename; refuses to replace anything but a symlink. */
const SWITCH_SYMLINK =
  'if [ -e "$1" ] && [ ! -L "$1" ]; then echo "$1 exists and is not a symlink pibake made" >&2; exit 4; fi; mkdir -p -- "$(dirname -- "$1")"; t="$(dirname -- "$1")/.$(basename -- "$1").new"; rm -f -- "$t"; ln -s -- "$2" "$t"; mv -f -T -- "$t" "$1"'

export function sshHost(dest: SshDestination): Host {
  const ssh = new SshConnection(dest)
  let rsyncThere: Promise<boolean> | undefined
  const hasRsync = () => (rsyncThere ??= sh('command -v rsync >/dev/null || exit 3', []).then((r) => r.exitCode !== MISSING))
  const sh = (script: string, args: readonly string[], input?: string) => ssh.run(['sh', '-c', script, 'sh', ...args], { okCodes: [MISSING], ...(input === undefined ? {} : { input }) })
  const files: HostFiles = {
    describe: (path) => `${ssh.name}:${path}`,
    readText: async (path, maxBytes = MAX_TEXT_BYTES) => {
      // Gone between a look and the read (a lock released meanwhile) is "not there" too, not an error.
      // One byte more than the limit is read, never the whole of a larger file: that byte says it is
      // larger. The `x` after the text keeps its own last newline from being taken for the output's.
      const script = 'if head -c "$2" -- "$1" 2>/dev/null; then printf x; exit 0; fi; [ -e "$1" ] || exit 3; head -c "$2" -- "$1"; printf x'
      const result = await sh(script, [path, String(maxBytes + 1)])
      if (result.exitCode === MISSING) return undefined
      const text = result.stdout.slice(0, -1)
      if (Buffer.byteLength(text) > maxBytes) throw tooLarge(`${ssh.name}:${path}`, maxBytes)
      return text
    },
    writeAtomic: async (path, content, mode = 0o644) => {
      const script = 'set -e; mkdir -p -- "$(dirname -- "$1")"; t="$(dirname -- "$1")/.$(basename -- "$1").new"; cat > "$t"; chmod "$2" "$t"; sync "$t" 2>/dev/null || true; mv -f -T -- "$t" "$1"'
      await sh(script, [path, mode.toString(8)], content)
    },
    list: async (dir) => {
      const result = await sh('[ -d "$1" ] || exit 3; ls -A1 -- "$1"', [dir])
      return result.exitCode === MISSING ? [] : result.stdout.split('\n').filter(Boolean)
    },
    readlink: async (path) => {
      const result = await sh('[ -L "$1" ] || exit 3; readlink -- "$1"', [path])
      return result.exitCode === MISSING ? undefined : result.stdout
    },
    switchSymlink: async (link, target) => {
      await sh(`set -e; ${SWITCH_SYMLINK}`, [link, target])
    },
    switchSymlinks: async (links) => {
      // A command per batch, not per link: the whole command line is one argument of ssh, which Linux caps at 128 KiB.
      for (const batch of batches(links, BATCH)) {
        await sh(`set -e; while [ $# -gt 0 ]; do ${SWITCH_SYMLINK}; shift 2; done`, batch.flatMap(({ link, target }) => [link, target]))
      }
    },
    remove: async (path) => void (await ssh.run(['rm', '-rf', '--', path])),
    exists: async (path) => (await sh('[ -e "$1" ] || [ -L "$1" ] || exit 3', [path])).exitCode !== MISSING,
    mkdir: async (path, mode = 0o755) => void (await ssh.run(['mkdir', '-p', '-m', mode.toString(8), '--', path])),
    rename: async (from, to) => void (await ssh.run(['mv', '-f', '-T', '--', from, to])),
    createExclusive: async (path, content) => (await sh('set -C; if cat > "$1"; then exit 0; else exit 3; fi', [path], content)).exitCode !== MISSING,
    // Each of these three is one system call on the host (link, unlink, utimes) whose outcome the
    // script reports: "not there" (or "already there") is exit 3, any other failure an error.
    link: async (from, to) => (await sh('ln -T -- "$1" "$2" 2>/dev/null && exit 0; [ -e "$2" ] || [ -L "$2" ] && exit 3; ln -T -- "$1" "$2"', [from, to])).exitCode !== MISSING,
    unlink: async (path) => (await sh('rm -- "$1" 2>/dev/null && exit 0; [ -e "$1" ] || [ -L "$1" ] || exit 3; rm -- "$1"', [path])).exitCode !== MISSING,
    touch: async (path) => (await sh('[ -e "$1" ] || exit 3; touch -c -- "$1" || exit 1; [ -e "$1" ] || exit 3', [path])).exitCode !== MISSING,
    mtime: async (path) => {
      const result = await sh('stat -c %Y -- "$1" 2>/dev/null && exit 0; [ -e "$1" ] || exit 3; stat -c %Y -- "$1"', [path])
      return result.exitCode === MISSING ? undefined : Number(result.stdout) * 1000
    },
  }
  const sync = async (source: string, dest: string, options: SyncOptions) => {
    // The SFTP client (ssh2 and its crypto, some 15 MB and half a second to load) only for a host without rsync.
    if (!(await hasRsync())) return (await import('./sftp.ts')).sftpSync(dest, ssh, source, options)
    const remote = { login: ssh.login, shell: await ssh.rsyncShell() }
    return rsync(source, dest, { ...options, remote }).catch(async (error: unknown) => Promise.reject(await ssh.explain(error)))
  }
  return {
    name: ssh.name,
    files,
    sync,
    // rsync sends only what the host lacks, and links the rest to the previous build there.
    copyTree: async () => undefined,
    linkCopies: async (from, copies, signal) => {
      for (const batch of batches(copies, BATCH)) {
        await sh('set -e; from="$1"; shift; for d in "$@"; do cp -a -l -- "$from" "$d"; done', [from, ...batch.map((copy) => copy.dir)]).catch((error: unknown) => {
          if (signal?.aborted) throw signal.reason
          throw error
        })
      }
      // Each folder's own files, staged here and sent in one transfer (per parent folder) that replaces their links.
      for (const parent of new Set(copies.map((copy) => dirname(copy.dir)))) {
        const staging = await mkdtemp(join(tmpdir(), 'pibake-own-'))
        try {
          for (const copy of copies.filter((c) => dirname(c.dir) === parent)) {
            await mkdir(join(staging, basename(copy.dir)))
            for (const [name, text] of Object.entries(copy.own)) await writeFile(join(staging, basename(copy.dir), name), text)
          }
          await sync(staging, parent, { args: ['--recursive', '--times', '--chmod=Du=rwx,Dgo=rx,Fu=rw,Fgo=r'], signal })
        } finally {
          await rm(staging, { recursive: true, force: true })
        }
      }
    },
    hasRsync,
    shell: (command, options = {}) => ssh.shell(command, { signal: options.signal, ...(options.onLine ? { onLine: options.onLine } : {}) }),
    confine: async (root, path) => {
      const { stdout } = await ssh.run(['readlink', '-m', '--', root, path])
      const [resolvedRoot, resolvedPath] = stdout.split('\n')
      if (!resolvedRoot || !resolvedPath) throw new PibakeError(`cannot resolve ${path} on ${ssh.name}`)
      confined(root, path, resolvedRoot, resolvedPath)
    },
    close: () => ssh.close(),
  }
}

