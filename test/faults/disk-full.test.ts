/**
 * Full filesystems, real ones: small ext4 filesystems loop-mounted for the test, one holding out/
 * (reached through a symbolic link, as `out -> /data/pibake-out`), one holding a publish target.
 * A filler file takes the room; the build fails naming the mount and the stage; nothing stays
 * mounted or attached, nothing half-written is taken for cached or live; once the filler is gone a
 * plain re-run succeeds and publishes what an unhindered build publishes.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { mkdir, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import { StageError } from '../../src/errors.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import { diffSnapshots, takeSnapshot } from '../../src/snapshot/index.ts'
import { exec } from '../../src/system/exec.ts'
import { attachLoop } from '../../src/system/losetup.ts'
import { mount } from '../../src/system/mount.ts'
import { hostEffects } from '../helpers/host-effects.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { makeProject, type Project } from '../helpers/project.ts'

const MiB = 1024 * 1024
/** An incompressible overlay file: what the layers and the published root must hold. */
const BIG = 24 * MiB

let project: Project
/** The small file systems' loop devices and mounts: undone by after(), or on the runner's SIGTERM/SIGINT. */
const host = hostEffects()

/** A fresh ext4 of `mib` MiB mounted at `dir` through a loop device of its own. */
async function smallFilesystem(dir: string, mib: number): Promise<string> {
  const file = `${dir}.ext4`
  await exec(['truncate', '-s', `${mib}M`, file])
  await exec(['mkfs.ext4', '-q', '-F', '-m', '0', file])
  const device = await attachLoop(host.cleanup, file)
  await mount(host.cleanup, device, dir, { type: 'ext4' })
  return dir
}

/** Fills `dir`'s filesystem until `leave` bytes are free; returns the filler's path. */
async function fill(dir: string, leave: number): Promise<string> {
  const filler = join(dir, 'filler')
  const { stdout } = await exec(['df', '--output=avail', '-B1', dir])
  const avail = Number(stdout.trim().split('\n').pop())
  await exec(['fallocate', '-l', String(Math.max(0, avail - leave)), filler])
  return filler
}

test.before(async () => {
  project = await makeProject()
  await project.write('opt/big.bin', '')
  await writeFile(join(project.overlay, 'rootfs/opt/big.bin'), randomBytes(BIG))
})

test.after(async () => {
  await host.undo()
  await project.remove()
})

const statuses = (events: readonly BuildEvent[]) =>
  Object.fromEntries(events.flatMap((e) => (e.type === 'stage-end' ? [[e.stage, e.status]] : [])))

test('out/ on a full filesystem (behind a symlink): the error names the mount and the stage; freed, a plain re-run succeeds', async () => {
  const small = await smallFilesystem(join(project.dir, 'small-out'), 64)
  await mkdir(join(small, 'pibake-out'))
  await rm(project.out)
  await symlink(join(small, 'pibake-out'), project.out)
  const filler = await fill(small, 8 * MiB)
  const error = await host.track(build(project.recipe(), { outDir: project.out, signal: host.signal })).then(() => undefined, (e: unknown) => e)
  assert.instance(error, StageError)
  const message = (error as StageError).message
  assert.match(message, new RegExp(`^overlay: no space left on ${small} \\([\\d.]+ MiB, [\\d.]+ [KM]iB free now\\) while overlay; it wants about [\\d.]+ MiB there \\(3 × the image`))
  assert.match((error as StageError).hint ?? '', `free space on ${small}`)
  assert.equal(await leftBehind(project.out), [], 'no loop device or mount left behind')

  await rm(filler)
  const events: BuildEvent[] = []
  const result = await host.track(build(project.recipe(), { outDir: project.out, onEvent: (e) => events.push(e), signal: host.signal }))
  assert.is(result.summary.result, 'published')
  assert.is(statuses(events).image, 'cached', 'what finished before the disk filled stays cached')
  assert.is(statuses(events).overlay, 'done', 'the half-written overlay layer was not taken for a cached one')
  assert.equal(await leftBehind(project.out), [])

  // The same recipe built where there is room publishes the same tree.
  const roomy = join(project.dir, 'roomy-out')
  const publish = join(roomy, 'publish')
  await host.track(build(project.recipe((input) => (input.publish = [{ nfs: join(publish, 'nfs'), tftp: join(publish, 'tftp'), config: publish }])), { outDir: roomy, signal: host.signal }))
  const live = async (out: string) => join(out, 'publish/nfs/test-node', await readlink(join(out, 'publish/nfs/test-node/current')))
  const diff = diffSnapshots(await takeSnapshot(await live(roomy)), await takeSnapshot(await live(project.out)))
  assert.equal([diff.added, diff.removed, diff.changed], [[], [], []])
})

test('a publish target on a full filesystem: the live build stays, untouched; freed, a plain re-run publishes', async () => {
  const target = await smallFilesystem(join(project.dir, 'small-target'), 96)
  const recipe = () =>
    project.recipe((input) => {
      input.publish = [{ nfs: join(target, 'nfs'), tftp: join(project.dir, 'tftp'), config: join(project.dir, 'site') }]
    })
  const out = join(project.dir, 'publish-out')
  await host.track(build(recipe(), { outDir: out, signal: host.signal }))
  const current = join(target, 'nfs/test-node/current')
  const first = await readlink(current)
  const before = await takeSnapshot(join(target, 'nfs/test-node', first))

  await writeFile(join(project.overlay, 'rootfs/opt/big.bin'), randomBytes(BIG))
  const filler = await fill(target, 8 * MiB)
  const error = await host.track(build(recipe(), { outDir: out, signal: host.signal })).then(() => undefined, (e: unknown) => e)
  assert.instance(error, StageError)
  const message = (error as StageError).message
  assert.match(message, new RegExp(`^publish: no space left on ${target} \\([\\d.]+ MiB, [\\d.]+ [KM]iB free now\\) while publish; it wants about [\\d.]+ MiB there \\(at most the image's size`))
  assert.is(await readlink(current), first, 'the live build is still the first one')
  const after = diffSnapshots(before, await takeSnapshot(join(target, 'nfs/test-node', first)))
  assert.equal([after.added, after.removed, after.changed], [[], [], []], 'and untouched')
  assert.equal(await leftBehind(out), [])

  await rm(filler)
  const result = await host.track(build(recipe(), { outDir: out, signal: host.signal }))
  assert.is(result.summary.result, 'published')
  assert.is.not(await readlink(current), first, 'the new build is live')
  assert.equal(await leftBehind(out), [])
})

test.run()
