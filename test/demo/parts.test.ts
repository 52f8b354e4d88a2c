/** Fast checks of the demo builder's pieces; image.test.ts checks a real build. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cp, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cmdlineTxt, configTxt, fstab, FIRSTBOOT, USERCONF_SERVICE_SCRIPT } from '../../src/demo/content.ts'
import { withSettings, missingModules } from '../../src/demo/debootstrap.ts'
import { planLayout, sfdiskScript } from '../../src/demo/disk.ts'
import { listCpio } from '../../src/demo/initramfs.ts'
import { builderDigest, demoManifest, manifestChanges } from '../../src/demo/manifest.ts'
import { parseDeb822, parseOneLine } from '../../src/demo/mirror.ts'
import { acquireBuildLock } from '../../src/demo/lock.ts'
import { writeRootFile, writeRootSymlink } from '../../src/demo/rootfiles.ts'
import { exec } from '../../src/system/exec.ts'

test('cmdline.txt has exactly Raspberry Pi OS shape with the fixed PARTUUID', () => {
  assert.is(
    cmdlineTxt(),
    'console=serial0,115200 console=tty1 root=PARTUUID=7069626b-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n',
  )
})

test('config.txt runs 64-bit only on arm64', () => {
  assert.match(configTxt('arm64'), /^arm_64bit=1$/m)
  assert.not.match(configTxt('armhf'), /arm_64bit/)
})

test('fstab mounts root and /boot/firmware by PARTUUID', () => {
  assert.match(fstab(), /^PARTUUID=7069626b-02\s+\/\s+ext4\s+defaults,noatime\s+0\s+1$/m)
  assert.match(fstab(), /^PARTUUID=7069626b-01\s+\/boot\/firmware\s+vfat\s+defaults\s+0\s+2$/m)
})

test('the shell scripts written into the image parse', async () => {
  for (const script of [FIRSTBOOT, USERCONF_SERVICE_SCRIPT]) await exec(['sh', '-n'], { input: script })
})

test('layout: boot at 8192 for 512 MiB, root after it with room to spare', () => {
  const layout = planLayout(800 * 1024 * 1024)
  assert.is(layout.bootStart, 8192)
  assert.is(layout.rootStart, 8192 + 1048576)
  assert.ok(layout.rootSectors * 512 > 1000 * 1024 * 1024)
  assert.is(layout.rootSectors % 2048, 0, 'whole MiB')
  const script = sfdiskScript(layout)
  assert.match(script, /^label-id: 0x7069626b$/m)
  assert.match(script, /^start=8192, size=1048576, type=c$/m)
})

test('withSettings changes KEY= lines and adds missing ones', () => {
  const text = '# comment\nMODULES=most\nBUSYBOX=auto\n'
  assert.is(withSettings(text, { MODULES: 'list', COMPRESS: 'gzip' }), '# comment\nMODULES=list\nBUSYBOX=auto\nCOMPRESS=gzip\n')
})

test('missingModules knows module files, built-ins and dashes', async () => {
  const root = await mkdtemp(join(tmpdir(), 'pibake-demo-'))
  try {
    const dir = join(root, 'lib/modules/6.1.0-1-arm64')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'modules.dep'), 'kernel/fs/nfs/nfs.ko: kernel/net/sunrpc/sunrpc.ko\nkernel/net/sunrpc/sunrpc.ko:\nkernel/drivers/net/usb/smsc95xx.ko.xz:\n')
    await writeFile(join(dir, 'modules.builtin'), 'kernel/net/packet/af_packet.ko\n')
    assert.equal(await missingModules(root, '6.1.0-1-arm64', ['nfs', 'smsc95xx', 'af_packet', 'sunrpc', 'genet']), ['genet'])
  } finally {
    await rm(root, { recursive: true, force: true })
  }
})

test('apt sources: deb822 stanzas and one-line entries', () => {
  const deb822 = 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://x/y\nSuites: sid\nComponents: main\nEnabled: no\n'
  assert.equal(parseDeb822(deb822), [{ types: ['deb'], uris: ['http://deb.debian.org/debian'], suites: ['bookworm', 'bookworm-updates'], components: ['main'] }])
  assert.equal(parseOneLine('# x\ndeb [arch=amd64] http://m/debian bookworm main contrib\n'), [
    { types: ['deb'], uris: ['http://m/debian'], suites: ['bookworm'], components: ['main', 'contrib'] },
  ])
})

test('manifest changes name the inputs that changed', () => {
  const current = demoManifest('arm64', 'http://deb.debian.org/debian')
  assert.equal(manifestChanges(JSON.parse(JSON.stringify(current)), current), [])
  assert.equal(manifestChanges({ ...current, packages: ['sudo'], mirror: 'http://other' }, current), ['mirror', 'packages'])
  assert.equal(manifestChanges(undefined, current), ['(no manifest)'])
  assert.is.not(demoManifest('armhf', current.mirror).filesDigest, current.filesDigest)
})

test('the demo cache key is the builder sources: an edit to any src/demo module changes it', async () => {
  const builder = join(import.meta.dirname, '../../src/demo')
  const copy = await mkdtemp(join(tmpdir(), 'pibake-builder-'))
  try {
    await cp(builder, copy, { recursive: true })
    assert.is(builderDigest(copy), builderDigest(builder))
    assert.is(demoManifest('arm64', 'http://m').builderDigest, builderDigest(builder))
    // The edit a developer makes without thinking of the cache: a line of the root's customisation.
    const file = join(copy, 'customize.ts')
    await writeFile(file, `${await readFile(file, 'utf8')}\n// changed\n`)
    assert.is.not(builderDigest(copy), builderDigest(builder))
    const stored = { ...demoManifest('arm64', 'http://m'), builderDigest: builderDigest(copy) }
    assert.equal(manifestChanges(stored, demoManifest('arm64', 'http://m')), ['builderDigest'])
  } finally {
    await rm(copy, { recursive: true, force: true })
  }
})

test('listCpio reads newc archives, plain and gzipped, concatenated', async () => {
  const plain = newc(['conf', 'conf/modules'])
  const { gzipSync } = await import('node:zlib')
  assert.equal(listCpio(Buffer.concat([plain, Buffer.alloc(512), gzipSync(newc(['scripts/nfs']))])), ['conf', 'conf/modules', 'scripts/nfs'])
})

test('writing into the staging root never follows its absolute symlinks', async () => {
  const root = await mkdtemp(join(tmpdir(), 'pibake-demo-'))
  const outside = await mkdtemp(join(tmpdir(), 'pibake-outside-'))
  try {
    await mkdir(join(root, 'etc'))
    await symlink(outside, join(root, 'escape'))
    await symlink(join(outside, 'victim'), join(root, 'etc/file'))
    await writeRootFile(root, '/etc/file', 'inside\n')
    assert.is(await readFile(join(root, 'etc/file'), 'utf8'), 'inside\n')
    assert.not.ok(await readFile(join(outside, 'victim')).then(() => true, () => false))
    try {
      await writeRootFile(root, '/escape/a/b/x', 'no')
      assert.unreachable()
    } catch (error) {
      assert.match(String(error), /outside the image root/)
    }
    assert.equal(await readdir(outside), [], 'nothing made outside')
    await writeRootSymlink(root, '/opt/etc-link', '/etc')
    assert.is(await readlink(join(root, 'opt/etc-link')), '/etc')
  } finally {
    await rm(root, { recursive: true, force: true })
    await rm(outside, { recursive: true, force: true })
  }
})

test('build lock: a second builder waits for the first; a lock nobody keeps fresh is taken over', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-lock-'))
  try {
    const path = join(dir, 'x.lock')
    await writeFile(path, '12345 deadbeef\n')
    const old = new Date(Date.now() - 60_000)
    await utimes(path, old, old)
    const first = await acquireBuildLock(path, () => assert.unreachable('stale lock waited on'))
    assert.match(await readFile(path, 'utf8'), new RegExp(`^${process.pid} [0-9a-f]{16}\\n$`))
    const waits: string[] = []
    let secondHeld = false
    const second = acquireBuildLock(path, (owner) => waits.push(owner)).then((lock) => ((secondHeld = true), lock))
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.not.ok(secondHeld)
    assert.equal(waits, [String(process.pid)])
    await first[Symbol.asyncDispose]()
    await (await second)[Symbol.asyncDispose]()
    assert.ok(secondHeld)
    assert.equal(await readdir(dir), [])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

/** A newc cpio archive of empty files. */
function newc(names: string[]): Buffer {
  const parts: Buffer[] = []
  const entry = (name: string) => {
    const fields = [1, 0o100644, 0, 0, 1, 0, 0, 0, 0, 0, 0, name.length + 1, 0]
    const header = '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('')
    const raw = Buffer.from(header + name + '\0', 'latin1')
    parts.push(raw, Buffer.alloc((4 - (raw.length % 4)) % 4))
  }
  for (const name of [...names, 'TRAILER!!!']) entry(name)
  return Buffer.concat(parts)
}

test.run()
