/**
 * The customise steps on the trixie demo image (arm64), with the image's own tools under qemu-user:
 * what differs from bookworm is apt reading deb822 `.sources` (and pibake's package-list cache
 * keyed by them), merged /usr, and trixie's shadow tools (useradd, usermod, groupadd, chpasswd
 * from shadow 4.17). The step kinds that don't touch those are proven on bookworm by steps.test.ts.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, readFile, readdir, readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { stepsOnDemo } from './demo-root.ts'
import { HASH, KEY } from './project.ts'

const { step, inImage, infos, host } = stepsOnDemo(test, 'trixie')

test('the image is trixie with merged /usr and deb822 apt sources only', async () => {
  assert.match(await readFile(inImage('etc/os-release'), 'utf8'), /^VERSION_CODENAME=trixie$/m)
  assert.is(await readlink(inImage('bin')), 'usr/bin')
  assert.is(await lstat(inImage('etc/apt/sources.list')).catch(() => undefined), undefined)
  assert.equal((await readdir(inImage('etc/apt/sources.list.d'))).filter((n) => /\.(list|sources)$/.test(n)), ['debian.sources'])
})

test("packages: installs from the deb822 sources, leaves the image's lists as they were and no archives, keeps the sources", async () => {
  const sources = await readFile(inImage('etc/apt/sources.list.d/debian.sources'), 'utf8')
  const listsBefore = await readdir(inImage('var/lib/apt/lists')).catch(() => [] as string[])
  const started = performance.now()
  await step({ kind: 'packages', install: ['tree'], upgrade: false, recommends: false })
  console.log(`  trixie packages step (apt-get update + install tree under emulation): ${((performance.now() - started) / 1000).toFixed(1)} s`)
  assert.ok((await stat(inImage('usr/bin/tree'))).isFile())
  assert.is(await readFile(inImage('etc/apt/sources.list.d/debian.sources'), 'utf8'), sources)
  // debootstrap left its own lists in the image; the step's lists live in pibake's cache.
  assert.equal(await readdir(inImage('var/lib/apt/lists')).catch(() => [] as string[]), listsBefore, "the image's lists are untouched")
  const debs = (await readdir(inImage('var/cache/apt/archives')).catch(() => [] as string[])).filter((n) => n.endsWith('.deb'))
  assert.equal(debs, [], 'no downloaded packages in the image')
  const cached = await readdir(join(host(), 'cache'), { recursive: true })
  assert.ok(cached.some((n) => /trixie.*Packages/.test(n)), 'the trixie lists went to the cache, keyed by the .sources file')
})

test("users and groups with trixie's shadow tools: a new user with a hash, groups and keys; the existing pi changed", async () => {
  await step({ kind: 'groups', groups: [{ name: 'cluster', gid: 2000, system: false }] })
  await step({
    kind: 'users',
    users: [
      { name: 'alice', uid: 2001, password: HASH, shell: '/bin/bash', home: '/home/alice', groups: ['cluster', 'sudo'], sshKeys: [KEY] },
      { name: 'pi', shell: '/bin/sh', groups: ['cluster'], sshKeys: [] },
    ],
  })
  const passwd = await readFile(inImage('etc/passwd'), 'utf8')
  assert.match(passwd, /^alice:x:2001:\d+:[^:]*:\/home\/alice:\/bin\/bash$/m)
  assert.match(passwd, /^pi:x:1000:1000:[^:]*:\/home\/pi:\/bin\/sh$/m)
  assert.ok((await readFile(inImage('etc/shadow'), 'utf8')).includes(`alice:${HASH}:`))
  assert.match(await readFile(inImage('etc/group'), 'utf8'), /^cluster:x:2000:(alice,pi|pi,alice)$/m)
  assert.match(await readFile(inImage('etc/group'), 'utf8'), /^sudo:x:27:.*\balice\b/m)
  const keys = await stat(inImage('home/alice/.ssh/authorized_keys'))
  assert.equal([keys.mode & 0o7777, keys.uid], [0o600, 2001])
  const shadow = await stat(inImage('etc/shadow'))
  assert.equal([shadow.mode & 0o7777, shadow.uid], [0o640, 0])
})

test('enable, mask and run on trixie units: NetworkManager-wait-online masked, a command sees merged /usr', async () => {
  await step({ kind: 'mask', units: ['NetworkManager-wait-online.service'] })
  assert.is(await readlink(inImage('etc/systemd/system/NetworkManager-wait-online.service')), '/dev/null')
  await step({ kind: 'disable', units: ['ssh.service'] })
  assert.is(await lstat(inImage('etc/systemd/system/multi-user.target.wants/ssh.service')).catch(() => undefined), undefined)
  await step({ kind: 'enable', units: ['ssh.service'] })
  assert.ok(await lstat(inImage('etc/systemd/system/multi-user.target.wants/ssh.service')))
  await step({ kind: 'run', command: 'command -v useradd > /root/where; uname -m >> /root/where' })
  assert.is(await readFile(inImage('root/where'), 'utf8'), '/usr/sbin/useradd\naarch64\n')
})

test.run()
