/**
 * The demo build, exported and imported again: `pibake export` of the published build (root, and
 * the boot files under boot/firmware/), that tarball as the image of the same recipe, built and
 * published again, and `pibake diff` of the two published roots (and boot files) finds nothing.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import type { Recipe } from '../../src/recipe/types.ts'
import { diffSnapshots, formatDiff, isEmptyDiff, takeSnapshot } from '../../src/snapshot/index.ts'
import { exec } from '../../src/system/exec.ts'
import { exportBuild } from '../../src/tarball/export.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { publishDemoBuild, type PublishedBuild } from '../boot/published.ts'

let published: PublishedBuild | undefined

test.after(async () => {
  await published?.remove()
})

test('the demo build exported, imported as the recipe image and built again: the same root and boot files', async () => {
  published = await publishDemoBuild('tarball-trip')
  const tarball = join(published.dir, 'root.tar.zst')
  const exported = await exportBuild(published.recipe, { output: tarball })
  assert.is(exported.root, published.root)
  console.log(`  exported ${published.root} to ${tarball}: ${((await stat(tarball)).size / 2 ** 20).toFixed(0)} MiB`)
  const listing = (await exec(['sh', '-c', `zstd -dc '${tarball}' | tar -t | head -3; zstd -dc '${tarball}' | tar -t | grep -c '^./boot/firmware/'`])).stdout.split('\n')
  assert.equal(listing.slice(0, 2), ['./', './bin'])
  assert.ok(Number(listing.at(-1)) > 5, 'the boot files are under ./boot/firmware/')

  const sha256 = (await exec(['sha256sum', tarball])).stdout.slice(0, 64)
  const imported: Recipe = { ...published.recipe, image: { path: tarball, sha256, arch: 'arm64' } }
  await build(imported, { outDir: published.out })
  const left = await leftBehind(published.dir)
  assert.equal(left, [], 'the build left loop devices or mounts behind')
  const id = (await readlink(join(published.recipeDir, 'current'))).replace(/^builds\//, '')
  assert.is.not(id, published.id, 'a new build was published (its image differs)')

  const root = diffSnapshots(await takeSnapshot(published.root), await takeSnapshot(join(published.recipeDir, 'builds', id)))
  assert.ok(isEmptyDiff(root), `the roots differ:\n${formatDiff(root)}`)
  const common = (buildId: string) => join(published!.tftp, 'builds', 'tarball-trip', buildId, 'common')
  const boot = diffSnapshots(await takeSnapshot(common(published.id)), await takeSnapshot(common(id)))
  assert.ok(isEmptyDiff(boot), `the boot files differ:\n${formatDiff(boot)}`)
})

test.run()
