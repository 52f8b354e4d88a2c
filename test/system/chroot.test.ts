/**
 * Commands in an image's root under real qemu-user (binfmt_misc), on the arm64 and armhf demo
 * images: the right architecture, the workarounds in place while a command runs, and nothing of
 * them left afterwards, however the command ends.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { CommandError, PreflightError } from '../../src/errors.ts'
import { diffSnapshots, takeSnapshot } from '../../src/snapshot/index.ts'
import { checkEmulation, inRoot, shellLine } from '../../src/system/chroot.ts'
import { Cleanup } from '../../src/system/cleanup.ts'
import { exec } from '../../src/system/exec.ts'
import { attachLoop } from '../../src/system/losetup.ts'
import { mount, mountsUnder } from '../../src/system/mount.ts'
import { mountDemoRoot, type DemoRoot } from '../customize/demo-root.ts'

const roots: Partial<Record<'arm64' | 'armhf', DemoRoot>> = {}
let arm64: DemoRoot
const scratch = await mkdtemp(join(tmpdir(), 'pibake-chroot-'))

test.before(async () => {
  arm64 = roots.arm64 = await mountDemoRoot('arm64')
  roots.armhf = await mountDemoRoot('armhf')
})
test.after(async () => {
  const undone = await Promise.allSettled(Object.values(roots).map((root) => root?.remove()))
  await rm(scratch, { recursive: true, force: true })
  for (const result of undone) if (result.status === 'rejected') throw result.reason
})
test.before.each(async () => {
  await arm64.reset()
})

async function run(root: string, line: string, options: Parameters<typeof inRoot>[2] = {}): Promise<string> {
  const { stdout } = await inRoot(root, shellLine(line), options)
  return stdout
}

test('this host runs both architectures through binfmt_misc handlers with the F flag', async () => {
  await checkEmulation('arm64')
  await checkEmulation('armhf')
})

test('each demo image runs as its own architecture, in a clean environment', async () => {
  process.env.PIBAKE_HOST_ONLY = 'leaks'
  assert.is((await run(arm64.root, 'uname -m')).trim(), 'aarch64')
  assert.is((await run(roots.armhf!.root, 'uname -m')).trim(), 'armv7l')
  const env = await run(arm64.root, 'env')
  assert.not.match(env, 'PIBAKE_HOST_ONLY')
  assert.match(env, 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
  assert.match(env, 'DEBIAN_FRONTEND=noninteractive')
  delete process.env.PIBAKE_HOST_ONLY
})

test('while a command runs: proc, sys, dev, dev/pts and a tmpfs /run are mounted, services are refused, no file capabilities', async () => {
  const mounts = await run(arm64.root, 'cat /proc/self/mounts')
  for (const [what, where] of [['proc', '/proc'], ['sysfs', '/sys'], ['devpts', '/dev/pts'], ['tmpfs', '/run']] as const) {
    assert.ok(mounts.split('\n').some((line) => line.split(' ')[0] !== undefined && line.split(' ')[1] === where && line.includes(what)), `${where} (${what}) in\n${mounts}`)
  }
  assert.is((await run(arm64.root, '/usr/sbin/policy-rc.d ssh start || echo "status $?"')).trim(), 'status 101')
  const bounding = /CapBnd:\s*([0-9a-f]+)/.exec(await run(arm64.root, 'cat /proc/self/status'))?.[1] ?? ''
  assert.is(BigInt(`0x${bounding}`) & (1n << 31n), 0n, 'CAP_SETFCAP (31) is not in the bounding set')
  const setcap = await run(arm64.root, 'touch /tmp/pibake-cap; setcap cap_net_raw+ep /tmp/pibake-cap 2>&1 || echo "setcap failed"; rm /tmp/pibake-cap')
  assert.match(setcap, 'setcap failed')
  assert.equal(await hostMounts(arm64), [join(arm64.dir, 'base'), arm64.root], "the host sees only the test's own two mounts")
})

test('resolv.conf (here a symlink), ld.so.preload and policy-rc.d are the temporary ones while it runs and the image\'s own after', async () => {
  const etc = join(arm64.root, 'etc')
  await rm(join(etc, 'resolv.conf'))
  await symlink('../run/systemd/resolve/stub-resolv.conf', join(etc, 'resolv.conf'))
  await writeFile(join(etc, 'ld.so.preload'), '/usr/lib/libpibake-missing.so\n')
  const before = await takeSnapshot(arm64.root)
  const inside = await run(arm64.root, 'cat /etc/resolv.conf; ls /etc/ld.so.preload 2>&1 || true; /bin/true')
  assert.is(inside.split('\n')[0], (await readFile('/etc/resolv.conf', 'utf8')).split('\n')[0], 'the host\'s resolv.conf is used')
  assert.match(inside, 'No such file or directory')
  assert.not.match(inside, 'cannot be preloaded')
  const after = await takeSnapshot(arm64.root)
  assert.equal(diffSnapshots(before, after), { added: [], removed: [], changed: [] })
  assert.is(await readlink(join(etc, 'resolv.conf')), '../run/systemd/resolve/stub-resolv.conf')
  assert.is(await readFile(join(etc, 'ld.so.preload'), 'utf8'), '/usr/lib/libpibake-missing.so\n')
})

test('a resolv.conf that the command replaces is kept as the command left it', async () => {
  await run(arm64.root, 'rm /etc/resolv.conf; ln -s ../run/resolvconf/resolv.conf /etc/resolv.conf')
  assert.is(await readlink(join(arm64.root, 'etc/resolv.conf')), '../run/resolvconf/resolv.conf')
  assert.equal((await readdir(join(arm64.root, 'etc'))).filter((name) => name.includes('pibake')), [])
})

test('a failing command is a CommandError with the command as run in the image and its last lines, both streams in order', async () => {
  try {
    await run(arm64.root, 'echo one; echo two >&2; echo three; exit 3')
    assert.unreachable()
  } catch (error) {
    assert.instance(error, CommandError)
    const e = error as CommandError
    assert.is(e.exitCode, 3)
    assert.equal(e.argv, ['chroot', arm64.root, '/bin/sh', '-euc', 'echo one; echo two >&2; echo three; exit 3'])
    assert.is(e.stderrTail, 'one\ntwo\nthree')
  }
  assert.is(await lstat(join(arm64.root, 'usr/sbin/policy-rc.d')).catch(() => undefined), undefined, 'policy-rc.d is gone after a failure too')
})

test('binds: a host folder below /run appears read-only and vanishes with the command', async () => {
  const host = join(scratch, 'shared')
  await mkdir(host, { recursive: true })
  await writeFile(join(host, 'hello'), 'from the host\n')
  const runBefore = await readdir(join(arm64.root, 'run'))
  const out = await run(arm64.root, 'cat /run/pibake/shared/hello; touch /run/pibake/shared/x 2>&1 || echo "read-only"', {
    binds: [{ source: host, target: '/run/pibake/shared', readOnly: true }],
  })
  assert.match(out, 'from the host')
  assert.match(out, 'read-only')
  assert.equal(await readdir(join(arm64.root, 'run')), runBefore, "the image's /run is as it was")
})

test('a cancelled command is killed with everything it started, and leaves nothing behind', async () => {
  const controller = new AbortController()
  const started = Date.now()
  const running = run(arm64.root, 'sleep 31.5 & sleep 31.5', { signal: controller.signal })
  setTimeout(() => controller.abort(), 1500)
  await running.then(() => assert.unreachable('the command was cancelled'), (error: unknown) => assert.instance(error, CommandError))
  assert.ok(Date.now() - started < 10_000, 'cancelled promptly')
  await new Promise((done) => setTimeout(done, 500))
  assert.equal(await sleeping('31.5'), [], 'no process of the namespace survives')
  assert.is(await lstat(join(arm64.root, 'usr/sbin/policy-rc.d')).catch(() => undefined), undefined)
  assert.equal(await hostMounts(arm64), [join(arm64.dir, 'base'), arm64.root])
})

test('when pibake itself is killed outright, the command and its namespace die with it', async () => {
  const program = `import { inRoot } from ${JSON.stringify(join(import.meta.dirname, '../../src/system/chroot.ts'))}\nawait inRoot(process.argv[1], ['/bin/sh', '-euc', 'sleep 33.5 & sleep 33.5'])`
  const child = spawn(process.execPath, ['--input-type=module', '-e', program, arm64.root], { stdio: 'ignore' })
  for (let i = 0; i < 100 && (await sleeping('33.5')).length < 2; i++) await new Promise((done) => setTimeout(done, 100))
  assert.is((await sleeping('33.5')).length, 2, 'both sleeps run under qemu')
  child.kill('SIGKILL')
  for (let i = 0; i < 50 && (await sleeping('33.5')).length; i++) await new Promise((done) => setTimeout(done, 100))
  assert.equal(await sleeping('33.5'), [], 'no process of the namespace survives pibake')
})

test("a running command holds none of the host's other mounts: another build's loop device detaches meanwhile", async () => {
  const img = join(scratch, 'other-build.img')
  await exec(['truncate', '-s', '8M', img])
  await exec(['mkfs.ext4', '-q', img])
  const other = new Cleanup()
  const device = await attachLoop(other, img)
  await mount(other, device, join(scratch, 'other-build'), { type: 'ext4' })
  let finished = false
  const running = run(arm64.root, 'sleep 6').finally(() => (finished = true))
  await new Promise((done) => setTimeout(done, 1500))
  const errors = await other.run()
  assert.equal(errors.map((e) => e.message), [])
  assert.not.ok(finished, 'unmounted and detached while the command still runs')
  assert.is(await readFile(`/sys/block/${device.replace('/dev/', '')}/loop/backing_file`, 'utf8').catch(() => 'gone'), 'gone')
  await running
})

test("onHost: the host's own program runs in the namespace made for the image, with the image's mounts and binds at the root's path, another build's loop device detachable meanwhile, CAP_SETFCAP dropped", async () => {
  const img = join(scratch, 'other-build-host.img')
  await exec(['truncate', '-s', '8M', img])
  await exec(['mkfs.ext4', '-q', img])
  const other = new Cleanup()
  const device = await attachLoop(other, img)
  await mount(other, device, join(scratch, 'other-build-host'), { type: 'ext4' })
  const bound = join(scratch, 'bound-host')
  await mkdir(bound, { recursive: true })
  await writeFile(join(bound, 'note'), 'from the host\n')
  const script = [
    'uname -m',
    'cat "$R/etc/hostname"',
    'cat "$R/run/pibake/bound/note"',
    'test -d "$R/proc/1" && echo "proc mounted"',
    'grep -c . /etc/hostname >/dev/null && echo "host files visible"',
    'findmnt -n -o FSTYPE "$R/run"',
    'grep CapBnd /proc/self/status',
    'sleep 4',
  ].join('; ')
  let finished = false
  const running = inRoot(arm64.root, ['/bin/sh', '-euc', script], { onHost: true, env: { R: arm64.root }, binds: [{ source: bound, target: '/run/pibake/bound', readOnly: true }] }).finally(() => (finished = true))
  await new Promise((done) => setTimeout(done, 1500))
  assert.equal((await other.run()).map((e) => e.message), [])
  assert.not.ok(finished, 'the loop device was detached while the command still ran')
  const lines = (await running).stdout.split('\n')
  assert.is(lines[0], 'x86_64', "the host's own program, not the image's")
  assert.is(lines[1], (await readFile(join(arm64.root, 'etc/hostname'), 'utf8')).trim())
  assert.equal(lines.slice(2, 6), ['from the host', 'proc mounted', 'host files visible', 'tmpfs'])
  assert.is(BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(lines[6] ?? '')?.[1] ?? '0'}`) & (1n << 31n), 0n, 'CAP_SETFCAP (31) is not in the bounding set')
  assert.equal(await hostMounts(arm64), [join(arm64.dir, 'base'), arm64.root], 'nothing of it is left on the host')
})

test('a host without the handler, with it disabled, or without the F flag is refused with what to do', async () => {
  const binfmt = join(scratch, 'binfmt_misc')
  await mkdir(binfmt, { recursive: true })
  const problem = async (arch: 'arm64' | 'armhf') => {
    try {
      await checkEmulation(arch, binfmt)
    } catch (error) {
      assert.instance(error, PreflightError)
      return `${(error as Error).message} | ${(error as PreflightError).hint}`
    }
    return 'accepted'
  }
  assert.match(await problem('arm64'), 'binfmt_misc is not mounted')
  await writeFile(join(binfmt, 'status'), 'enabled\n')
  assert.match(await problem('armhf'), /no qemu-user emulation for armhf: .*qemu-arm is not registered \| install it: apt-get install qemu-user-static binfmt-support/)
  await writeFile(join(binfmt, 'qemu-aarch64'), 'disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n')
  assert.match(await problem('arm64'), 'update-binfmts --enable qemu-aarch64')
  await writeFile(join(binfmt, 'qemu-aarch64'), 'enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: P\n')
  assert.match(await problem('arm64'), 'lacks the F flag (flags: P)')
  await writeFile(join(binfmt, 'qemu-aarch64'), 'enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n')
  assert.is(await problem('arm64'), 'accepted')
})

/** Mounts below the demo root's folder, as the host sees them: the namespaces' mounts never show. */
async function hostMounts(root: DemoRoot): Promise<string[]> {
  return (await mountsUnder(root.dir)).sort()
}

/** The emulated `sleep <seconds>` processes (under qemu their command line is `<interpreter> /usr/bin/sleep sleep <seconds>`). */
async function sleeping(seconds: string): Promise<string[]> {
  const found: string[] = []
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0$/, '').replaceAll('\0', ' ')
    if (cmdline.endsWith(`/sleep sleep ${seconds}`)) found.push(`${pid}: ${cmdline}`)
  }
  return found
}

test.run()
