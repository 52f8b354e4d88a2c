/**
 * A root tarball as a recipe's image, on the tiny image (seconds, no emulation): a build published
 * from the disk image, exported, and built again from its tarball (with the boot files inside it,
 * or in a second boot tarball) publishes the same root and boot files. A tarball whose sha256 is
 * not the recipe's, or whose entries leave the tree, stops the build with nothing left in the cache.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdir, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pack } from 'tar-stream'
import { build } from '../../src/build.ts'
import type { Recipe } from '../../src/recipe/types.ts'
import { diffSnapshots, formatDiff, isEmptyDiff, takeSnapshot } from '../../src/snapshot/index.ts'
import { exec } from '../../src/system/exec.ts'
import { writeTarball } from '../../src/tarball/compression.ts'
import { exportBuild } from '../../src/tarball/export.ts'
import { packTree } from '../../src/tarball/pack.ts'
import { leftovers } from '../helpers/leftovers.ts'
import { makeProject, type Project } from '../helpers/project.ts'

let original: Project
let again: Project

/** The live build of a project's recipe: its root and its boot files. */
async function live(project: Project, recipe: Recipe) {
  const nfs = join(project.out, 'publish/nfs', recipe.name)
  const id = (await readlink(join(nfs, 'current'))).replace(/^builds\//, '')
  return { root: join(nfs, 'builds', id), boot: join(project.out, 'publish/tftp/builds', recipe.name, id, 'common') }
}

async function sameTrees(a: string, b: string, what: string): Promise<void> {
  const diff = diffSnapshots(await takeSnapshot(a), await takeSnapshot(b))
  assert.ok(isEmptyDiff(diff), `the ${what} differ:\n${formatDiff(diff)}`)
}

const sha256 = async (file: string) => (await exec(['sha256sum', file])).stdout.slice(0, 64)

test.before(async () => {
  original = await makeProject()
  again = await makeProject()
  await original.write('etc/motd', 'baked\n')
  await build(original.recipe(), { outDir: original.out })
})

test.after(async () => {
  await original.remove()
  await again.remove()
})

test('the build exported with its boot files and built from that tarball: the same root and boot files', async () => {
  const tarball = join(again.dir, 'root.tar.zst')
  await exportBuild(original.recipe(), { output: tarball })
  const sum = await sha256(tarball)
  const imported = again.recipe((r) => void (r.image = { path: tarball, sha256: sum }))
  const result = await build(imported, { outDir: again.out })
  assert.is(result.summary.result, 'published')
  assert.equal(await leftovers(again.dir), [])
  const [a, b] = [await live(original, original.recipe()), await live(again, imported)]
  await sameTrees(a.root, b.root, 'roots')
  await sameTrees(a.boot, b.boot, 'boot files')
  assert.equal(await readdir(join(again.out, 'cache/trees')), [imported.image.sha256], 'unpacked once, under its sha256')
  const second = await build(imported, { outDir: again.out })
  assert.is(second.stages.find((s) => s.name === 'image')?.status, 'cached')
})

test('a root tarball without boot files and a boot tarball beside it: the same root and boot files', async () => {
  const a = await live(original, original.recipe())
  const root = join(again.dir, 'only-root.tar')
  const boot = join(again.dir, 'boot.tar.xz')
  await exportBuild(a.root, { output: root })
  await writeTarball(packTree(a.boot, { clamp: Number.MAX_SAFE_INTEGER }), boot)
  const recipe = again.recipe()
  const imported: Recipe = { ...recipe, image: { path: root, sha256: await sha256(root), boot: { path: boot, sha256: await sha256(boot) } } }
  await build(imported, { outDir: again.out })
  const b = await live(again, imported)
  await sameTrees(a.root, b.root, 'roots')
  await sameTrees(a.boot, b.boot, 'boot files')
})

test('a tarball whose sha256 is not the recipe\'s stops the build naming both, and leaves nothing in the cache', async () => {
  const tarball = join(again.dir, 'other.tar')
  await exportBuild((await live(original, original.recipe())).root, { output: tarball })
  const wrong = 'cd'.repeat(32)
  const recipe: Recipe = { ...again.recipe(), image: { path: tarball, sha256: wrong } }
  const error = await build(recipe, { outDir: again.out }).catch((e: unknown) => e)
  assert.instance(error, Error)
  assert.match((error as Error).message, `image.path: ${tarball} has sha256 ${await sha256(tarball)}, but the recipe says ${wrong}`)
  assert.not.ok((await readdir(join(again.out, 'cache/trees'))).some((name) => name.startsWith(wrong) || name.includes('partial')), 'no tree, no partial folder')
  assert.equal(await leftovers(again.dir), [])
})

test('a hostile tarball stops the build naming the entry, and leaves nothing in the cache', async () => {
  const stream = pack()
  stream.entry({ name: './etc/', type: 'directory', mode: 0o755 })
  stream.entry({ name: './etc/../../escape', mode: 0o644 }, 'x')
  stream.finalize()
  const tarball = join(again.dir, 'hostile.tar')
  await writeTarball(Readable.from(stream as unknown as AsyncIterable<Buffer>), tarball)
  const recipe: Recipe = { ...again.recipe(), image: { path: tarball, sha256: await sha256(tarball) } }
  const before = await readdir(join(again.out, 'cache/trees'))
  const error = await build(recipe, { outDir: again.out }).catch((e: unknown) => e)
  assert.instance(error, Error)
  assert.match((error as Error).message, `${tarball}: entry "./etc/../../escape" has a ".." component`)
  assert.equal(await readdir(join(again.out, 'cache/trees')), before)
  assert.equal(await readdir(join(again.out, 'cache')).then((names) => names.includes('escape')), false)
})

test.run()
