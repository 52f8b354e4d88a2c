/**
 * Caches that lie: a decompressed image in out/cache/images/ cut short, a stage's cache record that
 * is not a manifest, a cached layer edited or emptied by hand. Each is found and named in the plan, the stage runs again, and what is
 * published equals what a build from nothing publishes: never the damaged copy.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdir, readlink, realpath, rm, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import type { Recipe } from '../../src/recipe/types.ts'
import { diffSnapshots, takeSnapshot, type Snapshot } from '../../src/snapshot/index.ts'
import { exec } from '../../src/system/exec.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { makeProject, type Project } from '../helpers/project.ts'

let project: Project
let recipe: Recipe
let good: Snapshot

async function liveRoot(): Promise<Snapshot> {
  const dir = join(project.out, 'publish/nfs/test-node')
  return takeSnapshot(join(dir, await readlink(join(dir, 'current'))))
}

/** Builds (with --force for `force`), returning the plan's reason for each stage that ran. */
async function rebuild(): Promise<Record<string, string>> {
  const events: BuildEvent[] = []
  await build(recipe, { outDir: project.out, onEvent: (e) => events.push(e) })
  const plan = events.find((e) => e.type === 'plan')
  assert.ok(plan && plan.type === 'plan')
  return Object.fromEntries(plan.stages.map((s) => [s.name, `${s.status}: ${s.reason ?? ''}`]))
}

function assertGood(root: Snapshot, why: string): void {
  const diff = diffSnapshots(good, root)
  assert.equal([diff.added, diff.removed, diff.changed], [[], [], []], `${why}: the published root is the good one`)
}

test.before(async () => {
  project = await makeProject()
  await project.write('etc/motd', 'first\n')
  await exec(['xz', '-k', '-T0', '-1', project.image.img])
  const xz = `${project.image.img}.xz`
  const sha256 = (await exec(['sha256sum', xz])).stdout.split(' ')[0]!
  recipe = project.recipe((input) => (input.image = { path: xz, sha256 }))
  await build(recipe, { outDir: project.out })
  good = await liveRoot()
})

test.after(async () => {
  await project.remove()
})

test('a decompressed image cut short in the cache is named and decompressed again', async () => {
  const images = join(project.out, 'cache/images')
  const [name] = (await readdir(images)).filter((n) => n.endsWith('.img'))
  assert.ok(name)
  await truncate(join(images, name), 4 * 1024 * 1024)
  // Something must change after the image for a new build to be published; the image stage runs first.
  await project.write('etc/motd', 'second\n')
  const reasons = await rebuild()
  assert.match(reasons.image!, /^run: the decompressed image .* has 4194304 bytes, not the \d+ its \.xz holds/)
  await project.write('etc/motd', 'first\n')
  await rebuild()
  assertGood(await liveRoot(), 'after the cut-short image')
  assert.equal(await leftBehind(project.out), [])
})

test("a stage's cache record that is not a manifest is named, and the stage runs again", async () => {
  // Named by its real path: out/ is behind a symbolic link, resolved where it enters pibake.
  const manifest = join(await realpath(project.out), 'work/test-node/stages/overlay/manifest.json')
  await writeFile(manifest, '{"stage": "overlay", "key": ')
  const reasons = await rebuild()
  assert.is(reasons.image, 'cached: cached')
  assert.match(reasons.overlay!, `run: its cache record ${manifest} is damaged (not a manifest)`)
  assertGood(await liveRoot(), 'after the damaged manifest')
  const again = await rebuild()
  assert.is(again.overlay, 'cached: cached', 'rewritten, it is trusted again')
})

test('a cached layer whose files were edited or deleted by hand is named and built again, never published as it is', async () => {
  const layer = join(project.out, 'work/test-node/stages/overlay/root')
  await writeFile(join(layer, 'etc/motd'), 'edited by hand\n')
  const edited = await rebuild()
  assert.is(edited.overlay, 'run: the cached overlay layer cannot be reused: a file in it was changed since it was built')
  assertGood(await liveRoot(), 'after a hand edit of the overlay layer')

  const netboot = join(project.out, 'work/test-node/stages/netboot/root')
  const [first] = (await readdir(join(netboot, 'etc'))).sort()
  assert.ok(first, 'the netboot layer holds files in /etc')
  await rm(join(netboot, 'etc', first), { recursive: true })
  const removed = await rebuild()
  assert.match(removed.netboot!, /^run: the cached netboot layer cannot be reused: it held \d+ entries and holds \d+$/)
  assertGood(await liveRoot(), 'after a file was removed from the netboot layer')
  assert.is((await rebuild()).netboot, 'cached: cached', 'built again, it is trusted again')
  assert.equal(await leftBehind(project.out), [])
})

test.run()
