/**
 * pibake doctor's checks: each against a fake /proc, binfmt_misc folder or PATH where it must fire
 * (and where it must not), the free-space check against a real small filesystem, and one real run
 * of `pibake doctor` on this machine, which can build.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { emulation, freeSpace, localServers, overlayfs, programs, root, sshClient, tryTools } from '../../src/doctor/checks.ts'
import { doctor, type DoctorContext } from '../../src/doctor/index.ts'
import { build } from '../../src/build.ts'
import { PreflightError } from '../../src/errors.ts'
import { exec } from '../../src/system/exec.ts'
import { isMounted } from '../../src/system/mount.ts'
import { makeProject, type Project } from '../helpers/project.ts'

const CLI = join(import.meta.dirname, '../../src/cli.ts')
let dir: string
let project: Project
const savedPath = process.env.PATH

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-doctor-'))
  project = await makeProject()
})
test.after(async () => {
  process.env.PATH = savedPath
  if (await isMounted(join(dir, 'small'))) await exec(['umount', join(dir, 'small')])
  await project.remove()
  await rm(dir, { recursive: true, force: true })
})

const context = (extra: Partial<DoctorContext> = {}): DoctorContext => ({ outDir: dir, proc: '/proc', binfmt: '/proc/sys/fs/binfmt_misc', uid: 0, ...extra })

/** A PATH folder holding `sh` and symlinks to the real `programs`, nothing else. */
async function fakePath(name: string, programs: readonly string[]): Promise<string> {
  const bin = join(dir, name)
  await mkdir(bin, { recursive: true })
  for (const program of ['sh', ...programs]) await symlink((await exec(['sh', '-c', 'command -v "$1"', 'sh', program])).stdout.trim(), join(bin, program))
  return bin
}

test('root: missing for any other user, with sudo as the fix', async () => {
  assert.equal(await root(context({ uid: 1000 })), [{ name: 'root', status: 'missing', detail: 'running as uid 1000', fix: 'run pibake with sudo' }])
  assert.is((await root(context()))[0]!.status, 'ok')
})

test('overlayfs: read from <proc>/filesystems', async () => {
  const proc = join(dir, 'proc')
  await mkdir(proc, { recursive: true })
  await writeFile(join(proc, 'filesystems'), 'nodev\tsysfs\n\text4\nnodev\ttmpfs\n')
  const [missing] = await overlayfs(context({ proc }))
  assert.is(missing!.status, 'missing')
  assert.is(missing!.fix, 'modprobe overlay')
  await writeFile(join(proc, 'filesystems'), 'nodev\tsysfs\n\text4\nnodev\toverlay\n')
  assert.is((await overlayfs(context({ proc })))[0]!.status, 'ok')
})

test('emulation: a handler without the F flag and an unregistered one, missing without a recipe, warnings for a recipe with no customize steps', async () => {
  const binfmt = join(dir, 'binfmt_misc')
  await mkdir(binfmt, { recursive: true })
  await writeFile(join(binfmt, 'status'), 'enabled\n')
  await writeFile(join(binfmt, 'qemu-aarch64'), 'enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: P\noffset 0\n')
  const results = await emulation(context({ binfmt }))
  assert.equal(results.map((r) => [r.name, r.status]), [['qemu-aarch64', 'missing'], ['qemu-arm', 'missing']])
  assert.match(results[0]!.detail, 'lacks the F flag')
  assert.match(results[0]!.fix ?? '', 'update-binfmts --enable qemu-aarch64')
  assert.match(results[1]!.fix ?? '', 'apt-get install qemu-user-static binfmt-support')
  const noCustomize = await emulation(context({ binfmt, recipe: project.recipe() }))
  assert.equal(noCustomize.map((r) => r.status), ['warning', 'warning'], 'the tiny recipe customizes nothing (and names no arch: both are checked)')
  const arm64 = await emulation(context({ binfmt, recipe: project.recipe((r) => void (r.image.arch = 'arm64')) }))
  assert.equal(arm64.map((r) => r.name), ['qemu-aarch64'], 'a recipe that names its arch checks only its handler')
  await writeFile(join(binfmt, 'qemu-aarch64'), 'enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n')
  assert.is((await emulation(context({ binfmt })))[0]!.status, 'ok')
})

test('programs: each one missing from PATH is named with the Debian package that has it', async () => {
  process.env.PATH = await fakePath('bin-programs', ['sfdisk', 'losetup', 'mount', 'umount', 'unshare', 'setpriv', 'findmnt', 'chroot', 'cp', 'xz'])
  try {
    const missing = (await programs(context())).filter((r) => r.status !== 'ok')
    assert.equal(missing.map((r) => [r.name, r.status, r.fix]), [['mcopy', 'missing', 'apt-get install mtools'], ['rsync', 'missing', 'apt-get install rsync']])
  } finally {
    process.env.PATH = savedPath
  }
})

test('a local site without dnsmasq or an NFS server: warnings, not missing; ssh only for SSH targets', async () => {
  process.env.PATH = await fakePath('bin-servers', [])
  try {
    const servers = await localServers(context({ recipe: project.recipe() }))
    assert.equal(servers.map((r) => [r.name, r.status]), [['dnsmasq', 'warning'], ['NFS server', 'warning']])
    assert.is(servers[0]!.fix, 'apt-get install dnsmasq')
    assert.equal(await sshClient(context({ recipe: project.recipe() })), [])
    const remote = project.recipe((r) => void (r.publish = [{ nfs: { host: 'nfs.lan', path: '/srv/nfs' }, tftp: { host: 'boot.lan', path: '/srv/tftp' } }]))
    const ssh = await sshClient(context({ recipe: remote }))
    assert.equal(ssh.map((r) => [r.name, r.status, r.fix]), [['ssh', 'missing', 'apt-get install openssh-client'], ['ssh-keygen', 'missing', 'apt-get install openssh-client'], ['ssh-keyscan', 'missing', 'apt-get install openssh-client']])
    assert.equal(await localServers(context({ recipe: remote })), [], 'a remote site is not served from here')
  } finally {
    process.env.PATH = savedPath
  }
})

test('pibake try\'s tools: warnings naming the package and try, QEMU for the recipe\'s architecture only', async () => {
  process.env.PATH = await fakePath('bin-try', ['busybox', 'curl'])
  try {
    const arm64 = await tryTools(context({ recipe: project.recipe((r) => void (r.image.arch = 'arm64')) }))
    assert.equal(arm64.map((r) => [r.name, r.status, r.fix]), [
      ['qemu-system-aarch64', 'warning', 'apt-get install qemu-system-arm'],
      ['ganesha.nfsd', 'warning', 'apt-get install nfs-ganesha and nfs-ganesha-vfs'],
      ['rpcbind', 'warning', 'apt-get install rpcbind'],
      ['busybox', 'ok', undefined],
      ['curl', 'ok', undefined],
    ])
    assert.match(arm64[0]!.detail, 'pibake try cannot boot a node here')
    const armhf = await tryTools(context({ recipe: project.recipe((r) => void (r.image.arch = 'armhf')) }))
    assert.equal(armhf[0]!.name, 'qemu-system-arm')
    assert.equal((await tryTools(context())).slice(0, 2).map((r) => r.name), ['qemu-system-aarch64', 'qemu-system-arm'])
  } finally {
    process.env.PATH = savedPath
  }
})

test('free space: an out folder on a small real filesystem gets a warning naming both sizes', async () => {
  const small = join(dir, 'small')
  await mkdir(small, { recursive: true })
  await exec(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'pibake-doctor', small])
  try {
    const [tight] = await freeSpace(context({ outDir: small, recipe: project.recipe() }))
    assert.is(tight!.status, 'warning')
    assert.match(tight!.detail, /free on .*small, about [\d.]+ GiB wanted \(3 × the [\d.]+ GiB image\)/)
    assert.is((await freeSpace(context({ recipe: project.recipe() })))[0]!.status, 'ok')
  } finally {
    await exec(['umount', small])
  }
})

test('doctor() without a recipe on a host lacking rsync reports it missing', async () => {
  process.env.PATH = await fakePath('bin-norsync', ['sfdisk', 'mcopy', 'losetup', 'mount', 'umount', 'unshare', 'setpriv', 'findmnt', 'chroot', 'cp', 'xz'])
  try {
    const results = await doctor({ outDir: dir })
    assert.equal(results.filter((r) => r.status === 'missing').map((r) => r.name), ['rsync'])
  } finally {
    process.env.PATH = savedPath
  }
})

test('build runs the same checks first: a missing rsync stops it before anything is touched', async () => {
  process.env.PATH = await fakePath('bin-build', ['sfdisk', 'mcopy', 'losetup', 'mount', 'umount', 'unshare', 'setpriv', 'findmnt', 'chroot', 'cp', 'xz'])
  try {
    await build(project.recipe(), { outDir: project.out })
    assert.unreachable()
  } catch (error) {
    assert.instance(error, PreflightError)
    assert.match((error as Error).message, 'rsync: rsync is not on PATH')
    assert.match((error as PreflightError).hint ?? '', 'apt-get install rsync')
  } finally {
    process.env.PATH = savedPath
  }
  assert.equal(await readdir(project.out).catch(() => []), [], 'no log, no work folder')
})

test('pibake doctor on this machine: every check passes, status 0; --json says the same; a missing rsync is status 1', async () => {
  const text = await exec([process.execPath, '--conditions=pibake-source', CLI, 'doctor', '--out', join(dir, 'out')])
  assert.match(text.stdout, 'pibake doctor: this host can build')
  assert.not.match(text.stdout, 'MISSING')
  const json = JSON.parse((await exec([process.execPath, '--conditions=pibake-source', CLI, 'doctor', '--json', '--out', join(dir, 'out')])).stdout)
  assert.is(json.ok, true)
  assert.ok(json.checks.some((c: { name: string; status: string }) => c.name === 'qemu-aarch64' && c.status === 'ok'))
  const bin = await fakePath('bin-cli', ['sfdisk', 'mcopy', 'losetup', 'mount', 'umount', 'unshare', 'setpriv', 'findmnt', 'chroot', 'cp', 'xz'])
  const failed = await exec([process.execPath, '--conditions=pibake-source', CLI, 'doctor', '--out', join(dir, 'out')], { env: { PATH: bin }, okCodes: [1] })
  assert.is(failed.exitCode, 1)
  assert.match(failed.stdout, /MISSING +rsync +rsync is not on PATH\n +fix: apt-get install rsync/)
  assert.match(failed.stdout, 'pibake doctor: something a build needs is missing')
})

test.run()
