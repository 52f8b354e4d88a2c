/**
 * Each step kind run on its own in the arm64 demo image's root (a fresh layer per test), with the
 * image's own tools under qemu-user: the cases a whole build doesn't show.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { stepsOnDemo } from './demo-root.ts'
import { KEY } from './project.ts'

const { step, inImage, infos, host } = stepsOnDemo(test)

test("an existing user (the image's pi) gets the groups and keys; its uid, home and /etc/shadow's owner and mode stay", async () => {
  const shadow = await stat(inImage('etc/shadow'))
  await step({ kind: 'groups', groups: [{ name: 'cluster', gid: 2000, system: false }] })
  await step({ kind: 'users', users: [{ name: 'pi', shell: '/bin/sh', groups: ['cluster'], sshKeys: [KEY] }] })
  assert.match(await readFile(inImage('etc/passwd'), 'utf8'), /^pi:x:1000:1000:[^:]*:\/home\/pi:\/bin\/sh$/m)
  assert.match(await readFile(inImage('etc/group'), 'utf8'), /^cluster:x:2000:pi$/m)
  const keys = await stat(inImage('home/pi/.ssh/authorized_keys'))
  assert.equal([keys.mode & 0o7777, keys.uid, keys.gid], [0o600, 1000, 1000])
  const after = await stat(inImage('etc/shadow'))
  assert.equal([after.mode & 0o7777, after.uid, after.gid], [shadow.mode & 0o7777, shadow.uid, shadow.gid])
  assert.equal([after.mode & 0o7777, after.uid], [0o640, 0])
  assert.ok(infos.some((i) => i.includes('user pi existed')))
})

test('a user whose uid differs from the existing one, or a group whose gid does, is refused', async () => {
  await assertFails(step({ kind: 'users', users: [{ name: 'pi', uid: 1234, shell: '/bin/bash', home: '/home/pi', groups: [], sshKeys: [] }] }), 'user pi exists in the image with uid 1000, the recipe says 1234')
  await assertFails(step({ kind: 'groups', groups: [{ name: 'sudo', gid: 999, system: false }] }), 'group sudo exists in the image with gid 27, the recipe says 999')
})

test('copy: a folder is merged into the destination with the owner given; modes from the step or the source', async () => {
  const source = join(host(), 'site')
  await mkdir(join(source, 'conf'), { recursive: true })
  await writeFile(join(source, 'index.html'), '<h1>node</h1>\n')
  await writeFile(join(source, 'conf/app.conf'), 'a=1\n')
  await symlink('index.html', join(source, 'default.html'))
  await step({ kind: 'copy', from: source, to: '/srv/www', mode: 0o640, owner: { user: 'pi', group: 'adm' } })
  const adm = Number(/^adm:x:(\d+):/m.exec(await readFile(inImage('etc/group'), 'utf8'))?.[1])
  const file = await stat(inImage('srv/www/conf/app.conf'))
  assert.equal([file.mode & 0o7777, file.uid, file.gid], [0o640, 1000, adm])
  assert.is(await readlink(inImage('srv/www/default.html')), 'index.html')
  assert.is((await lstat(inImage('srv/www/default.html'))).uid, 1000)
  assert.is((await stat(inImage('srv'))).uid, 0, 'an existing folder keeps its owner')
})

test('write: through a symlink in the image to /etc, the file lands in the image, never on the host', async () => {
  await mkdir(inImage('opt/links'), { recursive: true })
  await symlink('/etc', inImage('opt/links/etc'))
  await step({ kind: 'write', path: '/opt/links/etc/pibake-write-test', content: 'inside\n', mode: 0o600, owner: { user: 'root', group: 'root' } })
  assert.is(await readFile(inImage('etc/pibake-write-test'), 'utf8'), 'inside\n')
  assert.is((await stat(inImage('etc/pibake-write-test'))).mode & 0o7777, 0o600)
  assert.is(await lstat('/etc/pibake-write-test').catch(() => undefined), undefined)
})

test('a write naming an owner the image does not have fails before writing', async () => {
  await assertFails(step({ kind: 'write', path: '/etc/x', content: '', mode: 0o644, owner: { user: 'nobody-here' } }), 'there is no user "nobody-here" in the image')
  assert.is(await lstat(inImage('etc/x')).catch(() => undefined), undefined)
})

test('mask links the unit to /dev/null; disable removes its wants-link', async () => {
  await step({ kind: 'mask', units: ['dphys-swapfile.service'] })
  assert.is(await readlink(inImage('etc/systemd/system/dphys-swapfile.service')), '/dev/null')
  await step({ kind: 'disable', units: ['ssh.service'] })
  assert.is(await lstat(inImage('etc/systemd/system/multi-user.target.wants/ssh.service')).catch(() => undefined), undefined)
})

test('enable fails, naming the unit, when the image has no such unit', async () => {
  await assertFails(step({ kind: 'enable', units: ['pibake-missing.service'] }), 'pibake-missing.service')
})

test('a script with a #! line runs by it, with its arguments, from a folder that is gone afterwards', async () => {
  const script = join(host(), 'report.sh')
  await writeFile(script, '#!/bin/bash\necho "bash ${BASH_VERSINFO[0]} in $0 with $*" > /root/report\n')
  await step({ kind: 'script', path: script, args: ['a b', 'c'] })
  assert.match(await readFile(inImage('root/report'), 'utf8'), /^bash 5 in \/run\/pibake\/script\/report\.sh with a b c\n$/)
  assert.is(await lstat(inImage('run/pibake')).catch(() => undefined), undefined)
})

async function assertFails(promise: Promise<unknown>, message: string): Promise<void> {
  try {
    await promise
  } catch (error) {
    assert.match(String(error instanceof Error ? error.message : error), message)
    return
  }
  assert.unreachable(`expected a failure: ${message}`)
}

test.run()
