/**
 * The publish lock on a target host, on real files (the same HostFiles code serves an SSH host:
 * test/publish/lock-ssh.test.ts): a second holder is refused naming the first, a dead holder's lock
 * or a stale one is taken over, and never by two at once. Holders are other processes, as another
 * pibake is: a refusal that named the refuser's own pid would fail here.
 */
import { link, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError } from '../../src/errors.ts'
import { localFiles } from '../../src/publish/files.ts'
import { lockPublish, lockSite, STALE_MS } from '../../src/publish/lock.ts'
import { dieHolding, holdLock, overlaps, racers, stopHolders } from '../helpers/lock-holder.ts'

let dir: string
const files = localFiles()
const lockFile = () => join(dir, 'lab', '.pibake-lock')

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-lock-'))
})
test.after.each(async () => {
  stopHolders()
  await rm(dir, { recursive: true, force: true })
})

test('a second publish of the recipe to the host is refused, naming the holder; released, it goes ahead', async () => {
  const first = await holdLock({ kind: 'publish', dir: join(dir, 'lab') })
  const error = await lockPublish(files, join(dir, 'lab'), 'lab on nfs1').catch((e: unknown) => e)
  assert.instance(error, PibakeError)
  assert.match((error as Error).message, `lab on nfs1 is being published by another pibake (pid ${first.pid} on ${hostname()}`)
  assert.match(await first.release(), /^held\nreleased /, 'the holder released it')
  const again = await lockPublish(files, join(dir, 'lab'), 'lab on nfs1')
  await again()
  assert.equal(await readdir(join(dir, 'lab')), [], 'released: no lock (nor claim) left')
})

test('a lock whose holder died on this machine is taken over', async () => {
  await dieHolding({ kind: 'publish', dir: join(dir, 'lab') })
  const release = await lockPublish(files, join(dir, 'lab'), 'lab')
  assert.match((await files.readText(lockFile())) ?? '', `"pid":${process.pid}`)
  await release()
  assert.equal(await readdir(join(dir, 'lab')), [], "released: neither the lock nor the dead holder's claim is left")
})

test("another machine's lock is honoured while fresh and taken over once stale", async () => {
  await files.mkdir(join(dir, 'lab'))
  const holder = { machine: 'build-2', pid: 4242, since: '2026-11-30T10:00:00.000Z', token: '4242-0123456789abcdef' }
  await writeFile(`${lockFile()}.${holder.token}`, JSON.stringify(holder))
  await link(`${lockFile()}.${holder.token}`, lockFile())
  assert.match(String(await lockPublish(files, join(dir, 'lab'), 'lab').catch((e: unknown) => e)), 'pid 4242 on build-2, since 2026-11-30T10:00:00.000Z')
  const old = new Date(Date.now() - STALE_MS - 5000)
  await utimes(lockFile(), old, old)
  const release = await lockPublish(files, join(dir, 'lab'), 'lab')
  await release()
  assert.equal(await readdir(join(dir, 'lab')), [])
})

test('a holder whose stale lock was taken over leaves the new holder its lock, and says it lost it', async () => {
  // The holder runs under another host name (a UTS namespace): its lock is judged by its age alone.
  const holder = await holdLock({ kind: 'publish', dir: join(dir, 'lab'), hostname: 'build-2' })
  const old = new Date(Date.now() - STALE_MS - 5000)
  await utimes(lockFile(), old, old)
  const release = await lockPublish(files, join(dir, 'lab'), 'lab')
  assert.match(await holder.release(), /release failed: lab: this pibake's lock was taken over while it held it/)
  assert.match((await files.readText(lockFile())) ?? '', `"pid":${process.pid}`, "the old holder's release left the new holder's lock")
  await release()
  assert.equal(await readdir(join(dir, 'lab')), [])
})

test("the site's lock is waited for while its holder lives, then taken; a dead holder's is taken at once", async () => {
  const first = await holdLock({ kind: 'site', dir: join(dir, 'site') })
  const waits: string[] = []
  let second: (() => Promise<void>) | undefined
  // Stopped when an assertion fails: a waiter left behind would go on past this test.
  const stop = new AbortController()
  const waiting = lockSite(files, join(dir, 'site'), { onWait: (holder) => waits.push(holder), signal: stop.signal }).then((release) => (second = release))
  try {
    await sleep(600)
    assert.is(second, undefined, 'still waiting while the first holds it')
    const since = (JSON.parse((await files.readText(join(dir, 'site', '.pibake-site-lock')))!) as { since: string }).since
    assert.equal(waits, [`pid ${first.pid} on ${hostname()}, since ${since}`], 'said once that it waits, naming the holder')
  } catch (error) {
    stop.abort(error)
    await waiting.catch(() => undefined)
    await first.release()
    throw error
  }
  await first.release()
  await waiting
  assert.ok(second, 'taken once released')
  await second!()

  await dieHolding({ kind: 'site', dir: join(dir, 'site') })
  const release = await lockSite(files, join(dir, 'site'), { onWait: () => assert.unreachable('a dead holder is not waited for') })
  await release()
})

test("of pibakes waiting for a dead holder's site lock, never two hold it at once", async () => {
  // Each round: a holder killed holding the lock, then 6 processes taking it at the same moment.
  // Taking over by removing the dead holder's file removed, 1 time in a few, the lock another had
  // just taken in its place: two held it (two publishes writing dnsmasq.conf at once).
  const site = join(dir, 'site')
  const racing = racers({ kind: 'site', dir: site }, 6)
  try {
    for (let round = 0; round < 30; round++) {
      await dieHolding({ kind: 'site', dir: site })
      const said = await racing.race(30)
      assert.equal(overlaps(said), [], `round ${round}: two held it at once:\n${said.join('\n')}`)
      assert.is(said.filter((text) => /^released /.test(text)).length, 6, `round ${round}: each took it in turn:\n${said.join('\n')}`)
      assert.equal(await readdir(site), [], `round ${round}: released, nothing left`)
    }
  } finally {
    await racing.close()
  }
})

test("waiting for the site's lock stops when the build is interrupted", async () => {
  const first = await lockSite(files, join(dir, 'site'))
  const controller = new AbortController()
  const waiting = lockSite(files, join(dir, 'site'), { signal: controller.signal }).catch((e: unknown) => e)
  await sleep(300)
  controller.abort(new Error('interrupted'))
  assert.match(String(await waiting), 'interrupted')
  await first()
  assert.equal(await readdir(join(dir, 'site')), [], "the waiter's claim went with it")
})

test.run()
