/**
 * The leftover check fires where it should: a loop device pibake detached but that a mount namespace
 * still holds is the run's, unless that namespace is proven another program's (chrooted elsewhere,
 * not started by this process, naming nothing of the test's folder).
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { exec } from '../../src/system/exec.ts'
import { detachLoop } from '../../src/system/losetup.ts'
import { leftBehind } from './leftovers.ts'
import { waitFor } from './wait.ts'

let dir: string
let elsewhere: string
const holders: number[] = []

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-leftovers-'))
  elsewhere = await mkdtemp(join(tmpdir(), 'pibake-elsewhere-'))
  await exec(['truncate', '-s', '8M', join(dir, 'disk.img')])
  await exec(['mkfs.ext4', '-q', join(dir, 'disk.img')])
})
test.after(async () => {
  for (const pid of holders) process.kill(pid, 'SIGKILL')
  await waitFor(async () => (await exec(['losetup', '--associated', join(dir, 'disk.img')])).stdout.trim() === '', { what: 'the held loop devices to go', timeoutMs: 10_000 })
  await rm(dir, { recursive: true, force: true })
  await rm(elsewhere, { recursive: true, force: true })
})

/**
 * Attaches the test's image, has a process in a mount namespace of its own mount it (under `elsewhere`,
 * so that its command line names nothing of `dir`) and sleep, then detaches it as pibake does.
 * `orphan`: the process is not this one's child (its shell has exited); `chroot`: it sleeps chrooted
 * into a bind of / under `elsewhere`.
 */
async function heldDevice(name: string, { orphan, chroot }: { orphan: boolean; chroot: boolean }): Promise<string> {
  const device = (await exec(['losetup', '--find', '--show', join(dir, 'disk.img')])).stdout.trim()
  const [mnt, root] = [join(elsewhere, name, 'mnt'), join(elsewhere, name, 'root')]
  await mkdir(mnt, { recursive: true })
  await mkdir(root, { recursive: true })
  const sleep = chroot ? `mount --bind / ${root}; exec chroot ${root} sleep 600` : 'exec sleep 600'
  const holder = ['unshare', '--mount', '--propagation', 'private', 'sh', '-euc', `mount -o ro,noload ${device} ${mnt}; ${sleep}`]
  const pid = orphan
    ? Number((await exec(['sh', '-c', '"$@" </dev/null >/dev/null 2>&1 & echo $!', 'sh', ...holder])).stdout.trim())
    : spawn(holder[0]!, holder.slice(1), { stdio: 'ignore' }).pid!
  holders.push(pid)
  const table = () => exec(['nsenter', `--mount=/proc/${pid}/ns/mnt`, 'cat', '/proc/self/mountinfo']).then((r) => r.stdout, () => '')
  await waitFor(async () => (await table()).includes(` ${mnt} `), { what: `pid ${pid} to mount ${device} on ${mnt}`, timeoutMs: 5000 })
  await detachLoop(device, 3).catch(() => {}) // still held: only marked for removal, as pibake's detach leaves it
  return device
}

test('a detached loop device held by a namespace of no known program is left behind', async () => {
  const device = await heldDevice('plain', { orphan: true, chroot: false })
  assert.equal((await leftBehind(dir)).filter((line) => line.startsWith(`loop: ${device} `)).length, 1, `${device} is reported`)
})

test('nor is one held by this process\'s own child, even chrooted elsewhere', async () => {
  const device = await heldDevice('child', { orphan: false, chroot: true })
  assert.equal((await leftBehind(dir)).filter((line) => line.startsWith(`loop: ${device} `)).length, 1, `${device} is reported`)
})

test('one held only by another program\'s step chrooted elsewhere is excused', async () => {
  const device = await heldDevice('other', { orphan: true, chroot: true })
  const left = await leftBehind(dir)
  assert.equal(left.filter((line) => line.startsWith(`loop: ${device} `)), [], `${device} is excused`)
})

test.run()
