/**
 * The host prerequisites, one small function each, in one literal list (CHECKS). `pibake doctor`
 * reports them all; `build` and `plan` run them first and stop on the missing ones. The programs
 * and the emulation are checked by the very functions the stages' verify() call
 * (system/preflight.ts, system/chroot.ts), so there is one test of each.
 */
import { readFile, stat, statfs } from 'node:fs/promises'
import { PreflightError } from '../errors.ts'
import { BINFMT_HANDLER, checkEmulation, type Arch } from '../system/chroot.ts'
import { exec, haveProgram } from '../system/exec.ts'
import { libnfsAvailable } from '../rehearse/nfs-client.ts'
import { packageOf } from '../system/preflight.ts'
import type { Check, CheckResult, DoctorContext } from './types.ts'

const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail })

/** pibake makes loop devices and mounts: root only. */
export const root: Check = async (ctx) => [ctx.uid === 0 ? ok('root', 'running as root') : { name: 'root', status: 'missing', detail: `running as uid ${ctx.uid}`, fix: 'run pibake with sudo' }]

/** A free loop device, as the extract stage asks for one (`losetup -f`). */
export const loopDevices: Check = async () => {
  try {
    const { stdout } = await exec(['losetup', '-f'])
    return [ok('loop devices', `next free: ${stdout.trim()}`)]
  } catch {
    return [{ name: 'loop devices', status: 'missing', detail: 'losetup -f found no free loop device', fix: 'modprobe loop (package mount provides losetup)' }]
  }
}

/** Every stage's layer is an overlayfs. */
export const overlayfs: Check = async (ctx) => {
  const table = await readFile(`${ctx.proc}/filesystems`, 'utf8').catch(() => '')
  if (/\toverlay$/m.test(table)) return [ok('overlayfs', `listed in ${ctx.proc}/filesystems`)]
  return [{ name: 'overlayfs', status: 'missing', detail: `overlay is not in ${ctx.proc}/filesystems`, fix: 'modprobe overlay' }]
}

/** binfmt_misc with the qemu handler of each architecture the customize stage may need, F flag included. */
export const emulation: Check = async (ctx) => {
  const needed = !ctx.recipe || ctx.recipe.customize.length > 0
  const arches: readonly Arch[] = ctx.recipe?.image.arch ? [ctx.recipe.image.arch] : ['arm64', 'armhf']
  const results: CheckResult[] = []
  for (const arch of arches) {
    const name = BINFMT_HANDLER[arch]
    try {
      await checkEmulation(arch, ctx.binfmt)
      results.push(ok(name, `registered in ${ctx.binfmt} with the F flag`))
    } catch (error) {
      if (!(error instanceof PreflightError)) throw error
      results.push({ name, status: needed ? 'missing' : 'warning', detail: error.message, ...(error.hint ? { fix: error.hint } : {}) })
    }
  }
  return results
}

/** The programs every build runs (extract, customize, publish). */
const BUILD_PROGRAMS = ['sfdisk', 'mcopy', 'losetup', 'mount', 'umount', 'unshare', 'setpriv', 'findmnt', 'chroot', 'rsync', 'cp']

export const programs: Check = async (ctx) => {
  const list = [...BUILD_PROGRAMS]
  // netboot.shrinkBoot recompresses the initramfs with xz.
  if (!ctx.recipe || ctx.recipe.image.path.endsWith('.xz') || ctx.recipe.netboot.shrinkBoot) list.push('xz')
  // A squashfs or ram root's image (netboot.root) is made at publish.
  if (ctx.recipe?.netboot.root === 'squashfs' || ctx.recipe?.netboot.root === 'ram') list.push('mksquashfs')
  return Promise.all(list.map((name) => program(name, 'missing')))
}

/** ssh, ssh-keygen and ssh-keyscan when the recipe publishes over SSH. */
export const sshClient: Check = async (ctx) => {
  const remote = ctx.recipe?.publish.some((t) => [t.nfs, t.tftp, t.config].some((d) => d.kind === 'ssh')) ?? false
  return remote ? Promise.all(['ssh', 'ssh-keygen', 'ssh-keyscan'].map((name) => program(name, 'missing'))) : []
}

/** A local site is served from this machine: dnsmasq and an NFS server, worth having, not needed to build. */
export const localServers: Check = async (ctx) => {
  const local = ctx.recipe ? ctx.recipe.publish.some((t) => t.config.kind === 'local') : true
  if (!local) return []
  const nfs = (await haveProgram('ganesha.nfsd')) || (await haveProgram('exportfs'))
  return [
    await program('dnsmasq', 'warning'),
    nfs ? ok('NFS server', 'ganesha.nfsd or exportfs found') : { name: 'NFS server', status: 'warning', detail: 'neither ganesha.nfsd nor exportfs found: the local site cannot serve roots', fix: 'apt-get install nfs-kernel-server (or nfs-ganesha nfs-ganesha-vfs)' },
  ]
}

/**
 * What `pibake try` runs to boot a node on this machine: QEMU for the recipe's architecture (both
 * without a recipe), nfs-ganesha and rpcbind, busybox's DHCP client and curl (the firmware's part);
 * worth having, not needed to build.
 */
export const tryTools: Check = async (ctx) => {
  const arch = ctx.recipe?.image.arch
  const qemu = arch === 'arm64' ? ['qemu-system-aarch64'] : arch === 'armhf' ? ['qemu-system-arm'] : ['qemu-system-aarch64', 'qemu-system-arm']
  const results = await Promise.all([...qemu, 'ganesha.nfsd', 'rpcbind', 'busybox', 'curl'].map((name) => program(name, 'warning')))
  return results.map((result) => (result.status === 'ok' ? result : { ...result, detail: `${result.detail}: pibake try cannot boot a node here` }))
}

/**
 * What rehearsing roots needs: libnfs (libnfs13), which the storm's root phase reads each node's
 * root read set over NFS with, and fatrace, which pibake try --record-reads records that read set
 * with. Worth having, not needed to build.
 */
export const rehearseTools: Check = async () => {
  const libnfs: CheckResult = libnfsAvailable()
    ? ok('libnfs', 'libnfs.so.13 loads (the root phase of pibake rehearse)')
    : { name: 'libnfs', status: 'warning', detail: 'libnfs.so.13 does not load: pibake rehearse stops each node at the kernel hand-off, without its root', fix: 'apt-get install libnfs13' }
  const fatrace = await program('fatrace', 'warning')
  return [libnfs, fatrace.status === 'ok' ? fatrace : { ...fatrace, detail: `${fatrace.detail}: pibake try --record-reads cannot record a root read set` }]
}

/** Room on the out folder for about three copies of the image (the decompressed image, layers, the published tree). */
export const freeSpace: Check = async (ctx) => {
  if (!ctx.recipe) return []
  const image = await imageBytes(ctx.recipe.image.path)
  if (image === undefined) return []
  const need = image * 3
  const fs = await statfs(ctx.outDir)
  const free = fs.bavail * fs.bsize
  const detail = `${gib(free)} free on ${ctx.outDir}, about ${gib(need)} wanted (3 × the ${gib(image)} image)`
  return [free >= need ? ok('free space', detail) : { name: 'free space', status: 'warning', detail, fix: `free space on ${ctx.outDir}, or build with --out on a larger filesystem (a cached rebuild needs less)` }]
}

/** Every check, in the order they are reported. */
export const CHECKS: readonly Check[] = [root, loopDevices, overlayfs, emulation, programs, sshClient, localServers, tryTools, rehearseTools, freeSpace]

async function program(name: string, status: 'missing' | 'warning'): Promise<CheckResult> {
  if (await haveProgram(name)) return ok(name, 'found on PATH')
  return { name, status, detail: `${name} is not on PATH`, fix: `apt-get install ${packageOf(name)}` }
}

/** The image's raw size: the file's, or for `.xz` the uncompressed size xz records. */
export async function imageBytes(path: string): Promise<number | undefined> {
  const size = await stat(path).then((s) => s.size, () => undefined)
  if (size === undefined || !path.endsWith('.xz')) return size
  const listed = await exec(['xz', '--robot', '--list', path]).catch(() => undefined)
  const totals = listed?.stdout.split('\n').find((line) => line.startsWith('totals\t'))?.split('\t')
  return totals ? Number(totals[4]) : size
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`
}

export type { DoctorContext }
