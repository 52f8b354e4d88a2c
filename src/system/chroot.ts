/**
 * Running programs inside an image's root under qemu-user emulation: every workaround this takes
 * lives here, and none of them outlives the command it was made for.
 *
 * - The image's programs run through binfmt_misc (`qemu-aarch64`, `qemu-arm`) registered with the
 *   `F` flag, so no qemu binary is ever copied into the image.
 * - Each command runs in its own mount and PID namespace (`unshare`): `/proc`, `/sys`, `/dev` (with
 *   `/dev/pts`), a tmpfs on `/run` and any bind mounts exist only there, and vanish with the
 *   command even when it, or pibake, is killed (the namespace's processes all die with it).
 * - `CAP_SETFCAP` is dropped from the bounding set, so no package can set file capabilities (an
 *   NFS root can't carry them; packages such as iputils-ping then fall back to setuid).
 * - For the time of the command, in the image itself: `/usr/sbin/policy-rc.d` answers 101 so no
 *   service starts, `/etc/ld.so.preload` is moved aside (Raspberry Pi OS preloads libarmmem, which
 *   qemu can't load), and `/etc/resolv.conf` (a file or a symlink) is replaced by the host's.
 *   Each is put back exactly afterwards, unless a package replaced it meanwhile (then the
 *   package's version stays).
 * - The command gets a clean environment: nothing of the host's leaks in.
 */
import { chmod, lstat, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { CommandError, PibakeError, PreflightError } from '../errors.ts'
import { Cleanup } from './cleanup.ts'
import { exec, type ExecResult } from './exec.ts'
import { resolveInRoot } from './inroot.ts'

export type Arch = 'arm64' | 'armhf'

/** The binfmt_misc handler each architecture needs, as Debian's qemu-user-static names it. */
export const BINFMT_HANDLER: Readonly<Record<Arch, string>> = { arm64: 'qemu-aarch64', armhf: 'qemu-arm' }

const HOST_ARCH: Readonly<Record<string, Arch>> = { arm64: 'arm64', arm: 'armhf' }

/**
 * Checks that the host can run the image's programs: natively, or through a binfmt_misc handler
 * that is enabled and has the `F` flag (its interpreter opened once, so none is needed in the image).
 */
export async function checkEmulation(arch: Arch, binfmtDir = '/proc/sys/fs/binfmt_misc'): Promise<void> {
  if (HOST_ARCH[process.arch] === arch) return
  const handler = BINFMT_HANDLER[arch]
  const install = `apt-get install qemu-user-static binfmt-support, then update-binfmts --enable ${handler} (scripts/setup.sh does both)`
  const status = await readFile(join(binfmtDir, 'status'), 'utf8').catch(() => undefined)
  if (status === undefined) {
    throw new PreflightError(`binfmt_misc is not mounted at ${binfmtDir}: ${arch} programs can't run on this ${process.arch} host`, `mount it: mount -t binfmt_misc binfmt_misc ${binfmtDir}; then ${install}`)
  }
  if (status.trim() !== 'enabled') throw new PreflightError(`binfmt_misc is disabled on this host (${binfmtDir}/status)`, `enable it: echo 1 > ${binfmtDir}/status`)
  const entry = await readFile(join(binfmtDir, handler), 'utf8').catch(() => undefined)
  if (entry === undefined) throw new PreflightError(`no qemu-user emulation for ${arch}: ${binfmtDir}/${handler} is not registered`, `install it: ${install}`)
  if (!/^enabled$/m.test(entry)) throw new PreflightError(`the ${handler} binfmt_misc handler is disabled`, `enable it: update-binfmts --enable ${handler}`)
  const flags = /^flags:\s*(\S*)$/m.exec(entry)?.[1] ?? ''
  if (!flags.includes('F')) {
    throw new PreflightError(
      `the ${handler} binfmt_misc handler lacks the F flag (flags: ${flags || 'none'}): its interpreter would have to be inside the image`,
      `use Debian's qemu-user-static, which registers it with flags PF: update-binfmts --disable ${handler} && update-binfmts --enable ${handler}`,
    )
  }
}

/** A host file or folder mounted at `target` (absolute, in the image) for one command. */
export interface Bind {
  readonly source: string
  /** Below `/run` it is created in the command's tmpfs; elsewhere it must exist in the image. */
  readonly target: string
  readonly readOnly?: boolean
}

export interface InRootOptions {
  /** Variables added to the command's clean environment. */
  readonly env?: Readonly<Record<string, string>>
  readonly binds?: readonly Bind[]
  /** Working folder inside the image (default `/`). */
  readonly cwd?: string
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void
  readonly signal?: AbortSignal | undefined
  readonly input?: string
  /** Said to the user when the command fails. */
  readonly hint?: string
  /**
   * Runs this host's program `argv` instead of the image's, in the namespace made for the image:
   * the root at its own path, with /proc, /sys, /dev, its /run and the binds in it (the host's
   * apt-get working on the image, whose dpkg it runs inside the root; see customize/apt.ts).
   */
  readonly onHost?: boolean
}

/**
 * The environment every command starts from: the image's own paths, no questions asked, and no
 * locale (a program started with LANG=C.UTF-8 loads locale data first: measured 20% slower for
 * the many short programs of maintainer scripts under emulation).
 */
const BASE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  DEBIAN_FRONTEND: 'noninteractive',
  DEBCONF_NONINTERACTIVE_SEEN: 'true',
}

const POLICY_RC_D = '#!/bin/sh\n# pibake: no service starts while the image is customised\nexit 101\n'

/**
 * Sets up the namespace, then runs the command with CAP_SETFCAP dropped. A constant script: the
 * root, `image` or `host` (whose program runs), the binds and the command come in as arguments
 * (`root`, the mode, then `kind source target ro|rw` per bind, `--`, the command). Standard error
 * goes to standard output, so that the output reads in the order it was written. The command isn't
 * exec'd, so that this shell stays the PID namespace's init and reaps what the command leaves behind.
 */
const ENTER = `exec 2>&1
root=$1; mode=$2; shift 2
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755,nosuid,nodev pibake-run "$root/run"
while [ "$1" != -- ]; do
  case $1 in dir) mkdir -p "$3" ;; file) mkdir -p "\${3%/*}"; : >"$3" ;; esac
  mount --bind "$2" "$3"
  if [ "$4" = ro ]; then mount -o remount,bind,ro "$3"; fi
  shift 4
done
shift
# The namespace began with a copy of every host mount; those it doesn't need would keep other
# builds' mounts and loop devices busy while the command runs: detach them, but for the root's own
# and the ones it sits on (lazily, as they may be in use; a path that findmnt shows escaped can't
# be given to umount, and then stays). A host program keeps the host's own mounts (/run, /tmp…)
# and loses only the overlays and loop-backed file systems, which are builds'.
findmnt --raw --noheadings --output TARGET,SOURCE,FSTYPE | sort -r | while read -r target source fstype; do
  case $target in /|"$root"|"$root"/*) continue ;; esac
  case $root in "$target"/*) continue ;; esac
  if [ "$mode" = host ] && [ "$fstype" != overlay ]; then case $source in /dev/loop*) ;; *) continue ;; esac; fi
  umount --lazy "$target" 2>/dev/null || true
done
status=0
if [ "$mode" = host ]; then
  setpriv --bounding-set -setfcap --inh-caps -setfcap "$@" || status=$?
else
  setpriv --bounding-set -setfcap --inh-caps -setfcap chroot "$root" "$@" || status=$?
fi
exit "$status"`

/**
 * A mount and PID namespace per command. The namespace's first process is killed when unshare dies
 * (`--kill-child`), and with it every process inside; unshare itself dies with pibake
 * (`--pdeathsig`), even when pibake is killed outright. Then the namespace's mounts are gone.
 */
const NAMESPACE = ['setpriv', '--pdeathsig', 'KILL', 'unshare', '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child']

const TAIL_LINES = 15

/**
 * Runs `argv` inside the image at `root` as root; its standard output and error come as one stream
 * (`stdout`, and `onLine` lines labelled stdout). On failure throws a CommandError whose command is
 * `chroot <root> <argv>` and whose tail is the last lines the command printed.
 */
export async function inRoot(root: string, argv: readonly string[], options: InRootOptions = {}): Promise<ExecResult> {
  const undo = new Cleanup()
  const tail: string[] = []
  const onLine = (line: string, stream: 'stdout' | 'stderr') => {
    tail.push(line)
    if (tail.length > TAIL_LINES) tail.shift()
    options.onLine?.(line, stream)
  }
  let result: ExecResult
  try {
    await prepareRoot(root, undo)
    const command = [...(await bindArgs(root, options.binds ?? [])), '--', ...envCommand(options), ...argv]
    const mode = options.onHost ? 'host' : 'image'
    result = await exec([...NAMESPACE, `--mount-proc=${join(root, 'proc')}`, 'sh', '-euc', ENTER, 'pibake-chroot', root, mode, ...command], {
      onLine,
      signal: options.signal,
      ...(options.input === undefined ? {} : { input: options.input }),
    })
  } catch (error) {
    await undo.run()
    if (!(error instanceof CommandError)) throw error
    throw new CommandError(options.onHost ? [...envPrefix(options.env), ...argv] : ['chroot', root, ...argv], error.exitCode, tail.join('\n') || error.stderrTail, options.hint)
  }
  const errors = await undo.run()
  if (errors.length) throw errors[0]
  return result
}

/** The variables a host command was given, as `env NAME=value` to paste before it. */
function envPrefix(env: InRootOptions['env']): string[] {
  return env && Object.keys(env).length ? ['env', ...Object.entries(env).map(([name, value]) => `${name}=${value}`)] : []
}

/** `env -i` with the clean environment, in the working folder: the image's own env, run inside the chroot. */
function envCommand(options: InRootOptions): string[] {
  const env = { ...BASE_ENV, ...options.env }
  const cwd = options.cwd ? ['-C', options.cwd] : []
  return ['/usr/bin/env', '-i', ...cwd, ...Object.entries(env).map(([name, value]) => `${name}=${value}`)]
}

async function bindArgs(root: string, binds: readonly Bind[]): Promise<string[]> {
  const args: string[] = []
  for (const bind of binds) {
    const target = await resolveInRoot(root, bind.target, { followLast: true })
    const inRun = bind.target === '/run' || bind.target.startsWith('/run/')
    const kind = inRun ? ((await lstat(bind.source)).isDirectory() ? 'dir' : 'file') : 'existing'
    if (!inRun && !(await lstat(target).catch(() => undefined))) throw new Error(`bind target ${bind.target} does not exist in the image`)
    args.push(kind, bind.source, target, bind.readOnly ? 'ro' : 'rw')
  }
  return args
}

/* ---- The image's own files, changed for the time of one command ---- */

interface Patch {
  /** Absolute path in the image. */
  readonly path: string
  /** What stands there meanwhile; undefined: nothing (the file is only moved aside). */
  readonly content?: string
  readonly mode?: number
}

async function prepareRoot(root: string, undo: Cleanup): Promise<void> {
  for (const dir of ['proc', 'sys', 'dev', 'run']) {
    // Mounted on from the host side: a symlink there would lead the mount out of the image.
    if (!(await lstat(join(root, dir)).catch(() => undefined))?.isDirectory()) {
      throw new PibakeError(`the image's /${dir} is not a folder: pibake can't mount ${dir === 'run' ? 'a tmpfs' : `the host's /${dir}`} on it`, 'is this a Raspberry Pi OS root filesystem?')
    }
  }
  const resolv = await readFile('/etc/resolv.conf', 'utf8').catch(() => '')
  const patches: Patch[] = [
    { path: '/usr/sbin/policy-rc.d', content: POLICY_RC_D, mode: 0o755 },
    { path: '/etc/ld.so.preload' },
    { path: '/etc/resolv.conf', content: resolv, mode: 0o644 },
  ]
  for (const patch of patches) await setAside(root, patch, undo)
}

/**
 * Moves the image's file at `patch.path` aside (never following it: it may be a symlink) and puts
 * `patch.content` there. The undo puts the original back, unless something else replaced ours.
 */
export async function setAside(root: string, patch: Patch, undo: Cleanup): Promise<void> {
  const target = join(await resolveInRoot(root, dirname(patch.path), { followLast: true }), basename(patch.path))
  const aside = `${target}.pibake-aside`
  if (await lstat(aside).catch(() => undefined)) throw new Error(`${patch.path}.pibake-aside is in the image already: is another pibake using this root?`)
  const original = await lstat(target).catch(() => undefined)
  if (original) await rename(target, aside)
  let ours: number | undefined
  if (patch.content !== undefined) {
    await writeFile(target, patch.content, { flag: 'wx' })
    await chmod(target, patch.mode ?? 0o644)
    ours = (await lstat(target)).ino
  }
  undo.defer(`put back ${patch.path}`, () => putBack(target, aside, original !== undefined, ours))
}

async function putBack(target: string, aside: string, hadOriginal: boolean, ours: number | undefined): Promise<void> {
  const now = await lstat(target).catch(() => undefined)
  const untouched = ours === undefined ? now === undefined : now?.isFile() === true && now.ino === ours
  if (!untouched) {
    // A package wrote its own file there (e.g. resolvconf's symlink): it stays, the original goes.
    if (hadOriginal) await rm(aside, { force: true })
    return
  }
  if (ours !== undefined) await rm(target)
  if (hadOriginal) await rename(aside, target)
}

/** A shell line as a command: `sh -euc <line>`, the one way a user's shell text is run. */
export function shellLine(line: string): string[] {
  return ['/bin/sh', '-euc', line]
}
