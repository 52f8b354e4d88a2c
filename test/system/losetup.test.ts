/**
 * Loop devices detached only while they are still the file's: the kernel may hand a device it has
 * just freed to another program at once, and a detach by number would then take that program's.
 * Real losetup on small files; every device made here is detached at the end.
 */
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { detachLoop } from '../../src/system/losetup.ts'
import { exec } from '../../src/system/exec.ts'

let dir: string
const made: string[] = []

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-losetup-'))
  for (const name of ['ours.img', 'theirs.img']) await writeFile(join(dir, name), Buffer.alloc(1 << 20))
  await symlink(dir, join(dir, 'link'))
})

test.after(async () => {
  for (const device of made) await exec(['losetup', '--detach', device], { okCodes: [1] })
  await rm(dir, { recursive: true, force: true })
})

async function attach(file: string): Promise<string> {
  const device = (await exec(['losetup', '--find', '--show', file])).stdout.trim()
  made.push(device)
  return device
}

const attached = async (device: string) => (await exec(['losetup', '--list', '--noheadings', '--output', 'NAME'])).stdout.split('\n').map((l) => l.trim()).includes(device)

test("a device now attached to another program's file is left to it", async () => {
  // As if ours had been freed and the kernel had given the same device to another program.
  const device = await attach(join(dir, 'theirs.img'))
  await detachLoop(device, join(dir, 'ours.img'))
  assert.ok(await attached(device), `${device} is still attached to theirs.img`)
})

test('a device still attached to our file is detached, the file named through a symbolic link', async () => {
  const device = await attach(join(dir, 'ours.img'))
  await detachLoop(device, join(dir, 'link', 'ours.img'))
  assert.not.ok(await attached(device), `${device} is detached`)
})

test('so is one whose file was removed meanwhile', async () => {
  await writeFile(join(dir, 'gone.img'), Buffer.alloc(1 << 20))
  const device = await attach(join(dir, 'gone.img'))
  await rm(join(dir, 'gone.img'))
  await detachLoop(device, join(dir, 'gone.img'))
  assert.not.ok(await attached(device), `${device} is detached`)
})

test.run()
