/** A layer's seal: it holds while the layer is untouched, and fires on every kind of change to it. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { appendFile, chmod, chown, lutimes, mkdir, mkdtemp, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { checkSeal, sealLayer } from '../../src/pipeline/seal.ts'
import { exec } from '../../src/system/exec.ts'

let dir: string

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-seal-'))
  await mkdir(join(dir, 'root/etc'), { recursive: true })
  await mkdir(join(dir, 'boot'), { recursive: true })
  await writeFile(join(dir, 'root/etc/motd'), 'hello\n')
  await symlink('motd', join(dir, 'root/etc/link'))
  await writeFile(join(dir, 'boot/config.txt'), 'arm_64bit=1\n')
  await sealLayer(dir, ['root', 'boot'])
})
test.after.each(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('an untouched layer passes, also after being read and mounted as an overlayfs lower layer', async () => {
  assert.is(await checkSeal(dir), undefined)
  const view = join(dir, '..', `${dir.split('/').pop()}-view`)
  await mkdir(view)
  await exec(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${join(dir, 'root')}:${join(dir, 'boot')}`, view])
  try {
    await exec(['cat', join(view, 'etc/motd')])
  } finally {
    await exec(['umount', view])
    await rm(view, { recursive: true })
  }
  assert.is(await checkSeal(dir), undefined)
})

test('a layer without a seal (never finished, or removed) does not pass', async () => {
  await rm(join(dir, 'seal.json'))
  assert.match(await checkSeal(dir) ?? '', 'missing or was never finished')
  await rm(dir, { recursive: true })
  assert.match(await checkSeal(dir) ?? '', 'missing or was never finished')
})

test('content changed in place, with the same size and the old modification time, is found', async () => {
  const before = await stat(join(dir, 'root/etc/motd'))
  await sleep(20)
  await writeFile(join(dir, 'root/etc/motd'), 'HELLO\n')
  await lutimes(join(dir, 'root/etc/motd'), before.atime, before.mtime)
  assert.match(await checkSeal(dir) ?? '', 'was changed since it was built')
})

test('a mode, an owner, a truncation, an added and a removed entry are each found', async () => {
  const changes: [string, () => Promise<unknown>][] = [
    ['chmod', () => chmod(join(dir, 'root/etc/motd'), 0o600)],
    ['chown', () => chown(join(dir, 'boot/config.txt'), 1000, 1000)],
    ['truncate', () => truncate(join(dir, 'root/etc/motd'), 0)],
    ['append', () => appendFile(join(dir, 'boot/config.txt'), 'x')],
    ['add', () => writeFile(join(dir, 'root/etc/new'), '')],
    ['remove', () => rm(join(dir, 'root/etc/link'))],
  ]
  for (const [name, change] of changes) {
    await sealLayer(dir, ['root', 'boot'])
    assert.is(await checkSeal(dir), undefined, `${name}: sealed`)
    await sleep(20)
    await change()
    assert.ok(await checkSeal(dir), `${name}: found`)
  }
})

test.run()
