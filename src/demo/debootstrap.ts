/**
 * The demo image's root: Debian minbase from debootstrap, with the kernel, initramfs-tools and
 * busybox in the same dpkg transaction. Before debootstrap runs, the staging directory is seeded
 * with settings that dpkg keeps (`--force-confold`):
 *
 * - `MODULES=list` and a short module list, so update-initramfs under emulation takes about a
 *   minute instead of sixteen (MODULES=most);
 * - `update_initramfs=no`, so the trigger at the end of the transaction doesn't build the initramfs
 *   a second time (the kernel's postinst creates it with `-c`, which ignores that setting);
 * - SSH host keys made by the host's ssh-keygen, so openssh-server's postinst finds them and does
 *   not make an RSA key under emulation (about two minutes);
 * - a `py3compile` that does nothing, first on the PATH of the packages' scripts, so trixie's
 *   cloud-init, netplan and their dozens of Python modules are not byte-compiled under emulation, one
 *   interpreter each (Python compiles a module when it is imported; the standard library is still
 *   compiled by its own package). Removed again by `finishInstall`.
 *
 * (dpkg `force-unsafe-io` in the staging root measured no faster here, and eatmydata around the host's
 * debootstrap doesn't reach the emulated dpkg: neither is used.)
 *
 * `finishInstall` puts Debian's own settings back, keeping `MODULES=list`.
 */
import { mkdir, readFile, readdir, realpath, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError, CommandError } from '../errors.ts'
import { exec } from '../system/exec.ts'
import { mountsUnder, unmount } from '../system/mount.ts'
import type { DemoRelease } from './release.ts'
import { demoPackages, initramfsModules, type DemoArch } from './spec.ts'

export interface RootContext {
  readonly arch: DemoArch
  /** The Debian suite debootstrap installs (the release's name). */
  readonly release: DemoRelease
  readonly staging: string
  readonly cacheDir: string
  readonly mirror: string
  readonly signal?: AbortSignal | undefined
  readonly onLine: (line: string) => void
}

const INITRAMFS_DIR = 'etc/initramfs-tools'
const INITRAMFS_SETTINGS = { MODULES: 'list', COMPRESS: 'gzip' } as const

const SEED_INITRAMFS_CONF = `# pibake demo image: only the modules in /etc/initramfs-tools/modules
MODULES=list
BUSYBOX=auto
KEYMAP=n
COMPRESS=gzip
DEVICE=
NFSROOT=auto
RUNSIZE=10%
FSTYPE=auto
`

/** A py3compile that compiles nothing, for the time of debootstrap (see above). */
const NO_PY3COMPILE = { path: 'usr/local/bin/py3compile', text: '#!/bin/sh\n# pibake demo image build: no byte-compiling under emulation (removed after debootstrap)\nexit 0\n' }

export async function seedRoot(ctx: RootContext): Promise<void> {
  const dir = join(ctx.staging, INITRAMFS_DIR)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'initramfs.conf'), SEED_INITRAMFS_CONF)
  await writeFile(join(dir, 'modules'), initramfsModules(ctx.arch).join('\n') + '\n')
  await writeFile(join(dir, 'update-initramfs.conf'), 'update_initramfs=no\nbackup_initramfs=no\n')
  await mkdir(join(ctx.staging, 'etc/ssh'), { recursive: true })
  await exec(['ssh-keygen', '-A', '-f', ctx.staging], { signal: ctx.signal })
  await mkdir(join(ctx.staging, 'usr/local/bin'), { recursive: true })
  await writeFile(join(ctx.staging, NO_PY3COMPILE.path), NO_PY3COMPILE.text, { mode: 0o755 })
}

export async function runDebootstrap(ctx: RootContext): Promise<void> {
  // In its own mount namespace: the /proc and /sys it mounts in the target never reach the host's
  // mount table and vanish with its last process, even if it is killed. (A pid namespace as well,
  // to kill every emulated process with it, made debootstrap hang in update-initramfs and once fail
  // configuring base-passwd: not used.)
  const argv = [
    'unshare', '--mount', '--propagation', 'private',
    'debootstrap', '--variant=minbase', `--arch=${ctx.arch}`, `--cache-dir=${ctx.cacheDir}`,
    `--include=${demoPackages(ctx.arch, ctx.release).join(',')}`, ctx.release, ctx.staging, ctx.mirror,
  ]
  try {
    await exec(argv, {
      signal: ctx.signal,
      // The packages' scripts find the seeded py3compile first.
      env: { LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive', PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      onLine: (line) => ctx.onLine(line),
      hint: `check that ${ctx.mirror} is reachable and that qemu-user-static is registered in binfmt_misc`,
    })
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    const log = await readFile(join(ctx.staging, 'debootstrap/debootstrap.log'), 'utf8').catch(() => '')
    const tail = log.trimEnd().split('\n').slice(-20).join('\n')
    throw new PibakeError(`${error.message}${tail ? `\n  debootstrap.log ends:\n${tail}` : ''}`, error.hint, { cause: error })
  } finally {
    await unmountLeftovers(ctx.staging, ctx.onLine)
  }
}

/**
 * debootstrap mounts /proc and /sys in its target and ignores a failed unmount at exit (seen here
 * once, before it ran in its own mount namespace). Nothing may stay mounted in the tree that
 * mkfs.ext4 -d copies or rm removes.
 */
export async function unmountLeftovers(dir: string, onLine: (line: string) => void): Promise<void> {
  const real = await realpath(dir).catch(() => undefined)
  if (!real) return
  for (const target of await mountsUnder(real)) {
    onLine(`unmounting ${target}, left mounted by debootstrap`)
    await unmount(target)
  }
}

/** Restores Debian's settings after the transaction and drops what a Raspberry Pi OS image doesn't ship. */
export async function finishInstall(ctx: RootContext): Promise<void> {
  const dir = join(ctx.staging, INITRAMFS_DIR)
  const dist = join(dir, 'initramfs.conf.dpkg-dist')
  const debianConf = await readFile(dist, 'utf8').catch(() => undefined)
  if (debianConf !== undefined) {
    await writeFile(join(dir, 'initramfs.conf'), withSettings(debianConf, INITRAMFS_SETTINGS))
    await rm(dist)
  }
  const updateDist = join(dir, 'update-initramfs.conf.dpkg-dist')
  if (await readFile(updateDist).then(() => true, () => false)) await rename(updateDist, join(dir, 'update-initramfs.conf'))
  else await writeFile(join(dir, 'update-initramfs.conf'), 'update_initramfs=yes\nbackup_initramfs=no\n')
  await rm(join(dir, 'modules.dpkg-dist'), { force: true })
  await rm(join(ctx.staging, NO_PY3COMPILE.path))
  await removeDebs(join(ctx.staging, 'var/cache/apt/archives'))
}

/** Sets `KEY=value` lines of a shell-style config file, keeping everything else as it is. */
export function withSettings(text: string, settings: Readonly<Record<string, string>>): string {
  let out = text
  for (const [key, value] of Object.entries(settings)) {
    const line = new RegExp(`^${key}=.*$`, 'm')
    out = line.test(out) ? out.replace(line, `${key}=${value}`) : `${out.trimEnd()}\n${key}=${value}\n`
  }
  return out
}

async function removeDebs(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[])
  await Promise.all(names.filter((n) => n.endsWith('.deb')).map((n) => rm(join(dir, n))))
}

/** The installed kernel's version (`6.1.0-50-arm64`), from `/boot/vmlinuz-*`. */
export async function kernelVersion(staging: string): Promise<string> {
  const names = (await readdir(join(staging, 'boot'))).filter((n) => n.startsWith('vmlinuz-')).sort()
  const last = names.at(-1)
  if (!last) throw new PibakeError(`no kernel in ${join(staging, 'boot')}`, 'the kernel package did not install: see the debootstrap output above')
  return last.slice('vmlinuz-'.length)
}

/** Modules of `wanted` that the installed kernel has neither as a file nor built in. */
export async function missingModules(staging: string, version: string, wanted: readonly string[]): Promise<string[]> {
  const dir = join(staging, 'lib/modules', version)
  const modulesDep = await readFile(join(dir, 'modules.dep'), 'utf8')
  const builtin = await readFile(join(dir, 'modules.builtin'), 'utf8').catch(() => '')
  const present = new Set(
    [...modulesDep.matchAll(/^(\S+?):/gm), ...builtin.matchAll(/^(\S+)$/gm)].map((m) => moduleName(m[1] ?? '')),
  )
  return wanted.filter((name) => !present.has(name.replaceAll('-', '_')))
}

function moduleName(path: string): string {
  const base = path.split('/').at(-1) ?? ''
  return base.replace(/\.ko(\.\w+)?$/, '').replaceAll('-', '_')
}
