/**
 * The site's lock on a host reached over SSH (a real OpenSSH server in a namespace of its own, with
 * only the programs a small host has): refused naming the holder, and of processes racing for a
 * dead holder's lock, never two hold it. The lock's link, unlink and touch are commands there.
 */
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lockPublish } from '../../src/publish/lock.ts'
import { sshHost } from '../../src/publish/ssh-host.ts'
import type { Host } from '../../src/publish/host.ts'
import { exec } from '../../src/system/exec.ts'
import type { SshDestination } from '../../src/system/ssh.ts'
import { dieHolding, holdLock, overlaps, racers, stopHolders } from '../helpers/lock-holder.ts'
import { TestLan } from '../helpers/netns.ts'
import { startSshd } from '../helpers/sshd.ts'

const ADDRESS = '10.87.0.2'
/** What a host without rsync offers (as in test/publish/ssh.test.ts), and touch. */
const PROGRAMS = ['sh', 'cat', 'head', 'ls', 'mkdir', 'mv', 'rm', 'ln', 'readlink', 'chmod', 'cp', 'dirname', 'basename', 'sync', 'stat', 'echo', 'true', 'touch']

let dir: string
let lan: TestLan
let dest: SshDestination
let host: Host

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-lock-ssh-'))
  const key = join(dir, 'id_test')
  await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key])
  lan = new TestLan()
  await lan.setup([{ name: 'cfg', address: `${ADDRESS}/24` }])
  await lan.attachHere('10.87.0.254/24')
  const sshd = await startSshd(lan, { host: 'cfg', address: ADDRESS, dir: join(dir, 'sshd'), authorizedKey: readFileSync(`${key}.pub`, 'utf8'), programs: PROGRAMS })
  await writeFile(join(dir, 'known_hosts'), `${sshd.knownHostsLine}\n`)
  dest = { user: 'root', host: ADDRESS, port: 22, identity: key, knownHosts: join(dir, 'known_hosts') }
  host = sshHost(dest)
})

test.after(async () => {
  stopHolders()
  try {
    await host?.close()
    await lan?.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('the publish lock over SSH: a holder on another machine is named, and taken over once stale', async () => {
  const site = join(dir, 'srv/etc')
  await mkdir(site, { recursive: true })
  // The holder runs as if on another machine: over there, only its lock's age tells it is gone.
  const first = await holdLock({ kind: 'publish', dir: site, ssh: dest, hostname: 'build-2' })
  const refused = await lockPublish(host.files, site, 'lab').catch((e: unknown) => String(e))
  assert.match(String(refused), `lab is being published by another pibake (pid ${first.pid} on build-2`)
  const old = new Date(Date.now() - 100_000)
  await utimes(join(site, '.pibake-lock'), old, old)
  const release = await lockPublish(host.files, site, 'lab')
  assert.match(await first.release(), /release failed: lab: this pibake's lock was taken over/, 'the old holder lost it, and says so')
  assert.match(readFileSync(join(site, '.pibake-lock'), 'utf8'), `"pid":${process.pid}`, "the old holder's release left the new holder's lock")
  await release()
  assert.equal(await readdir(site), [])
})

test("of pibakes racing over SSH for a dead holder's site lock, never two hold it at once", async () => {
  const site = join(dir, 'srv/site')
  const racing = racers({ kind: 'site', dir: site, ssh: dest }, 4)
  try {
    for (let round = 0; round < 6; round++) {
      await dieHolding({ kind: 'site', dir: site, ssh: dest })
      const said = await racing.race(30)
      assert.equal(overlaps(said), [], `round ${round}: two held it at once:\n${said.join('\n')}`)
      assert.is(said.filter((text) => text.startsWith('released ')).length, 4, `round ${round}: each took it in turn:\n${said.join('\n')}`)
      assert.equal(await readdir(site), [], `round ${round}: released, nothing left`)
    }
  } finally {
    await racing.close()
  }
})

test.run()
