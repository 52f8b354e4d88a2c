/** An .xz image is checked while it is decompressed: one read of the file, and a wrong checksum still stops the build before the image is used. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import { exec } from '../../src/system/exec.ts'
import { leftovers } from '../helpers/leftovers.ts'
import { makeProject, type Project } from '../helpers/project.ts'

let project: Project
let xz: string
let sha256: string

test.before(async () => {
  project = await makeProject()
  await exec(['xz', '--keep', '--threads=0', project.image.img])
  xz = `${project.image.img}.xz`
  sha256 = (await exec(['sha256sum', xz])).stdout.split(' ')[0]!
})
test.after(async () => {
  await project.remove()
})

test('a wrong sha256 of an .xz image fails the image stage naming both hashes, and leaves no decompressed image', async () => {
  const error = await build(project.recipe((r) => void (r.image = { path: xz, sha256: 'cd'.repeat(32) })), { outDir: project.out }).catch((e: unknown) => e)
  assert.instance(error, Error)
  assert.match((error as Error).message, `has sha256 ${sha256}, but the recipe says ${'cd'.repeat(32)}`)
  assert.equal(await readdir(join(project.out, 'cache/images')), [], 'no image, no partial file in the cache')
  assert.equal(await leftovers(project.dir), [])
})

test('the right sha256: decompressed once into the cache under its hash, published', async () => {
  const result = await build(project.recipe((r) => void (r.image = { path: xz, sha256 })), { outDir: project.out })
  assert.is(result.summary.result, 'published')
  assert.equal(await readdir(join(project.out, 'cache/images')), [`${sha256}.img`])
  const again = await build(project.recipe((r) => void (r.image = { path: xz, sha256 })), { outDir: project.out })
  assert.is(again.stages.find((s) => s.name === 'image')?.status, 'cached')
})

test.run()
