/**
 * `pibake clean` after a run killed at the worst moments, made exactly (not at random): between
 * making a mount and writing it down, so that the journal names the loop device under the mount
 * but not the mount; and with a program still inside a mount, which nothing may take from it.
 * Real losetup, mount and overlayfs; the journal is a dead process's, as a SIGKILL leaves it.
 * Loop devices another program's mount namespace still holds once clean detached them are excused
 * (see leftBehind: this machine runs other builds and servers); mounts never are.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { clean } from '../../src/clean.ts'
import { PibakeError } from '../../src/errors.ts'
import { journalDir } from '../../src/pipeline/workspace.ts'
import { Cleanup, Journal } from '../../src/system/cleanup.ts'
import { exec } from '../../src/system/exec.ts'
import { attachLoop } from '../../src/system/losetup.ts'
import { leftBehind, leftovers } from '../helpers/leftovers.ts'

let dir: string
let out: string
let image: string

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-test-'))
  out = join(dir, 'out')
  image = join(out, 'cache/images/root.img')
  await mkdir(join(out, 'cache/images'), { recursive: true })
  await exec(['truncate', '-s', '16M', image])
  await exec(['mkfs.ext4', '-q', image])
})

test.after(async () => {
  await clean(out).catch(() => undefined)
  await rm(dir, { recursive: true, force: true })
})

/** The PID of a process that has ended: its journal is an orphan's. */
async function deadPid(): Promise<number> {
  const child = spawn('true')
  await new Promise((resolve) => child.on('close', resolve))
  return child.pid!
}

/**
 * What a run killed right after mount(8) returned leaves: a journal naming the loop device (written
 * when it was attached) but neither the read-only mount of it nor an overlay on top of that.
 */
async function killedBetweenMountAndJournal(): Promise<{ base: string; view: string }> {
  const journal = new Journal(journalDir(out), await deadPid())
  const device = await attachLoop(new Cleanup(journal), image)
  const mnt = join(out, 'work/r/mnt')
  const base = join(mnt, 'base')
  const view = join(mnt, 'customize-root')
  const upper = join(out, 'work/r/stages/customize')
  for (const folder of [base, view, join(upper, 'root'), join(upper, 'work')]) await mkdir(folder, { recursive: true })
  await exec(['mount', '-o', 'ro', device, base])
  await exec(['mount', '-t', 'overlay', '-o', `lowerdir=${base},upperdir=${join(upper, 'root')},workdir=${join(upper, 'work')}`, 'overlay', view])
  return { base, view }
}

test('mounts no journal names are unmounted before the loop device under them is detached', async () => {
  const { base, view } = await killedBetweenMountAndJournal()
  assert.is((await leftovers(out)).length, 3, 'the loop device and both mounts are there')
  const done = await clean(out)
  assert.ok(done.includes(`unmounted ${view}`), done.join('\n'))
  assert.ok(done.includes(`unmounted ${base}`), done.join('\n'))
  assert.ok(done.some((line) => line.startsWith('detached /dev/loop')), done.join('\n'))
  assert.equal(await leftBehind(out), [], 'nothing left mounted or attached')
  assert.equal(await readdir(journalDir(out)).catch(() => []), [], 'the journal, all undone, is gone')
  assert.equal(await clean(out), [], 'a second clean finds nothing')
})

test('a mount a program is still inside is named, everything else is undone, and the journal is kept for the next clean', async () => {
  const { base, view } = await killedBetweenMountAndJournal()
  // A program left inside the image's root (a shell someone opened there, say).
  const inside = spawn('sleep', ['60'], { cwd: base, stdio: 'ignore' })
  try {
    const error = await clean(out).then(() => undefined, (e: unknown) => e)
    assert.instance(error, PibakeError)
    const message = (error as PibakeError).message
    assert.match(message, `unmount ${base}: `)
    assert.match(message, /busy/i)
    assert.match(message, /detach \/dev\/loop\d+ .*: it is still mounted/)
    assert.match(message, `undone:\n  unmounted ${view}`)
    assert.match((error as PibakeError).hint ?? '', 'fuser -vm')
    assert.is((await readdir(journalDir(out))).length, 1, 'the journal stays for the next clean')
    const left = await leftovers(out)
    assert.ok(left.some((line) => line.includes(` ${base} `)), 'the busy mount stays')
    assert.not.ok(left.some((line) => line.includes(` ${view} `)), 'the view over it is gone')
  } finally {
    inside.kill('SIGKILL')
    await new Promise((resolve) => inside.on('close', resolve))
  }
  const done = await clean(out)
  assert.ok(done.includes(`unmounted ${base}`), done.join('\n'))
  assert.ok(done.some((line) => line.startsWith('detached /dev/loop')), done.join('\n'))
  assert.equal(await leftBehind(out), [], 'once the program is gone, nothing is left')
  assert.equal(await readdir(journalDir(out)), [])
})

test.run()
