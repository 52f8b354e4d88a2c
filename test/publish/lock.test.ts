/**
 * The publish lock on a target host, on real files (the same HostFiles code serves an SSH host):
 * a second holder is refused naming the first, a dead holder's lock or a stale one is taken over.
 */
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError } from '../../src/errors.ts'
import { localFiles } from '../../src/publish/files.ts'
import { lockPublish, lockSite, STALE_MS } from '../../src/publish/lock.ts'
import { exec } from '../../src/system/exec.ts'

let dir: string
const files = localFiles()
const lockFile = () => join(dir, 'lab', '.pibake-lock')

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-lock-'))
})
test.after.each(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('a second publish of the recipe to the host is refused, naming the holder; released, it goes ahead', async () => {
  const release = await lockPublish(files, join(dir, 'lab'), 'lab on nfs1')
  const error = await lockPublish(files, join(dir, 'lab'), 'lab on nfs1').catch((e: unknown) => e)
  assert.instance(error, PibakeError)
  assert.match((error as Error).message, `lab on nfs1 is being published by another pibake (pid ${process.pid} on ${hostname()}`)
  await release()
  const again = await lockPublish(files, join(dir, 'lab'), 'lab on nfs1')
  await again()
  assert.not.ok(await files.exists(lockFile()), 'released: no lock left')
})

test('a lock whose holder died on this machine is taken over', async () => {
  const { stdout } = await exec(['sh', '-c', 'sh -c "echo \\$\\$" '])
  const dead = Number(stdout)
  await files.mkdir(join(dir, 'lab'))
  await writeFile(lockFile(), JSON.stringify({ machine: hostname(), pid: dead, since: new Date().toISOString() }))
  const release = await lockPublish(files, join(dir, 'lab'), 'lab')
  assert.match((await files.readText(lockFile())) ?? '', `"pid":${process.pid}`)
  await release()
})

test("another machine's lock is honoured while fresh and taken over once stale", async () => {
  await files.mkdir(join(dir, 'lab'))
  await writeFile(lockFile(), JSON.stringify({ machine: 'build-2', pid: 4242, since: '2026-11-30T10:00:00.000Z' }))
  assert.match(String(await lockPublish(files, join(dir, 'lab'), 'lab').catch((e: unknown) => e)), 'pid 4242 on build-2, since 2026-11-30T10:00:00.000Z')
  const old = new Date(Date.now() - STALE_MS - 5000)
  await utimes(lockFile(), old, old)
  const release = await lockPublish(files, join(dir, 'lab'), 'lab')
  await release()
})

test("the site's lock is waited for while its holder lives, then taken; a dead holder's is taken at once", async () => {
  const first = await lockSite(files, join(dir, 'site'))
  const waits: string[] = []
  let second: (() => Promise<void>) | undefined
  const waiting = lockSite(files, join(dir, 'site'), { onWait: (holder) => waits.push(holder) }).then((release) => (second = release))
  await sleep(600)
  assert.is(second, undefined, 'still waiting while the first holds it')
  assert.equal(waits.length, 1, 'said once that it waits')
  assert.match(waits[0] ?? '', `pid ${process.pid} on ${hostname()}`)
  await first()
  await waiting
  assert.ok(second, 'taken once released')
  await second!()

  const { stdout } = await exec(['sh', '-c', 'sh -c "echo \\$\\$" '])
  await writeFile(join(dir, 'site', '.pibake-site-lock'), JSON.stringify({ machine: hostname(), pid: Number(stdout), since: new Date().toISOString() }))
  const release = await lockSite(files, join(dir, 'site'), { onWait: () => assert.unreachable('a dead holder is not waited for') })
  await release()
})

test("waiting for the site's lock stops when the build is interrupted", async () => {
  const first = await lockSite(files, join(dir, 'site'))
  const controller = new AbortController()
  const waiting = lockSite(files, join(dir, 'site'), { signal: controller.signal }).catch((e: unknown) => e)
  await sleep(300)
  controller.abort(new Error('interrupted'))
  assert.match(String(await waiting), 'interrupted')
  await first()
})

test.run()
