/**
 * The recipe's sourceDateEpoch and the environment's SOURCE_DATE_EPOCH date what a build writes, on
 * a tiny image: a new setting is a new cache key (the layers are built again with it), the same
 * setting reuses them.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import type { RecipeInput } from '../../src/recipe/types.ts'
import { makeProject, type Project } from '../helpers/project.ts'

let project: Project
const saved = process.env.SOURCE_DATE_EPOCH

test.before(async () => {
  delete process.env.SOURCE_DATE_EPOCH
  project = await makeProject()
  await project.write('etc/cluster-role', 'worker\n')
})
test.after(async () => {
  if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH
  else process.env.SOURCE_DATE_EPOCH = saved
  await project.remove()
})

/** Builds with `sourceDateEpoch` in the recipe (none when undefined); the stages' statuses and the published times of a few paths. */
async function buildWith(sourceDateEpoch: RecipeInput['sourceDateEpoch']): Promise<{ statuses: Record<string, string>; mtimes: Record<string, number> }> {
  const events: BuildEvent[] = []
  const recipe = project.recipe((input) => Object.assign(input, sourceDateEpoch === undefined ? {} : { sourceDateEpoch }))
  await build(recipe, { outDir: project.out, onEvent: (e) => events.push(e) })
  const nfs = join(project.out, 'publish/nfs/test-node')
  const root = join(nfs, await readlink(join(nfs, 'current')))
  const mtimes: Record<string, number> = {}
  for (const path of ['etc/cluster-role', 'etc/hosts', '']) mtimes[`/${path}`] = (await lstat(join(root, path))).mtimeMs / 1000
  const statuses = Object.fromEntries(events.flatMap((e) => (e.type === 'plan' ? e.stages.map((s) => [s.name, s.status]) : [])))
  return { statuses, mtimes }
}

const all = (seconds: number) => ({ '/etc/cluster-role': seconds, '/etc/hosts': seconds, '/': seconds })

test("the recipe's sourceDateEpoch dates the overlay's and the netboot stage's files, and the root", async () => {
  const { mtimes } = await buildWith('2024-11-19T12:00:00Z')
  assert.equal(mtimes, all(1_732_017_600))
})

test('the same setting again reuses every layer', async () => {
  const { statuses, mtimes } = await buildWith(1_732_017_600)
  assert.equal([statuses.overlay, statuses.netboot], ['cached', 'cached'])
  assert.equal(mtimes, all(1_732_017_600))
})

test('another date builds the layers again, dated with it', async () => {
  const { statuses, mtimes } = await buildWith('2025-01-01')
  assert.equal([statuses.overlay, statuses.netboot], ['run', 'run'])
  assert.equal(mtimes, all(1_735_689_600))
})

test("the environment's SOURCE_DATE_EPOCH wins over the recipe's", async () => {
  process.env.SOURCE_DATE_EPOCH = '1700000000'
  try {
    const { statuses, mtimes } = await buildWith('2025-01-01')
    assert.equal([statuses.overlay, statuses.netboot], ['run', 'run'])
    assert.equal(mtimes, all(1_700_000_000))
  } finally {
    delete process.env.SOURCE_DATE_EPOCH
  }
})

test('a malformed SOURCE_DATE_EPOCH stops the build before anything runs, saying what to set', async () => {
  process.env.SOURCE_DATE_EPOCH = 'last tuesday'
  try {
    const error = await buildWith(undefined).then(() => undefined, (e: unknown) => e as Error & { hint?: string })
    assert.ok(error, 'the build failed')
    assert.match(error.message, 'SOURCE_DATE_EPOCH="last tuesday" is not a number of seconds since 1970')
  } finally {
    delete process.env.SOURCE_DATE_EPOCH
  }
})

test.run()
