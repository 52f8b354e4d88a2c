/**
 * recipeNameOf: what an argument naming a published recipe stands for. A name as it is; a recipe
 * file for its `name` only (its image need not be there); anything else a clear error, one fixture
 * each, named for the error.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PibakeError, RecipeError, UsageError } from '../../src/errors.ts'
import { recipeNameOf } from '../../src/recipe/argument.ts'

let tmp = ''
test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pibake-recipe-arg-'))
  await mkdir(join(tmp, 'recipes'))
  // A recipe whose image is not there: its name is all that is read.
  await writeFile(join(tmp, 'recipes/lab.ts'), "import { defineRecipe } from 'pibake'\nexport default defineRecipe({ name: 'lab', image: { path: '../gone.img', sha256: '00' }, netboot: { server: '10.0.0.1', dhcp: { mode: 'proxy' }, nfs: { server: '10.0.0.1' } }, nodes: [] })\n")
  await writeFile(join(tmp, 'recipes/bad-name.ts'), "export default { name: 'Lab 2' }\n")
  await writeFile(join(tmp, 'recipes/no-default.ts'), "export const name = 'lab'\n")
  await writeFile(join(tmp, 'notes.txt'), 'lab\n')
  // A file whose name is a recipe name stays a name.
  await writeFile(join(tmp, 'workers'), "export default { name: 'other' }\n")
})
test.after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

async function refusal(argument: string): Promise<PibakeError> {
  try {
    await recipeNameOf(argument)
  } catch (error) {
    assert.instance(error, PibakeError)
    return error as PibakeError
  }
  throw new assert.Assertion({ message: `${argument} was taken`, operator: 'refusal', expects: 'an error', actual: 'none' })
}

test('a recipe name is taken as it is, even where a file has that name', async () => {
  const cwd = process.cwd()
  process.chdir(tmp)
  try {
    assert.is(await recipeNameOf('workers'), 'workers')
    assert.is(await recipeNameOf('cluster-node'), 'cluster-node')
  } finally {
    process.chdir(cwd)
  }
})

test('a recipe file gives its name, relative or absolute, with its image missing', async () => {
  assert.is(await recipeNameOf(join(tmp, 'recipes/lab.ts')), 'lab')
  const cwd = process.cwd()
  process.chdir(tmp)
  try {
    assert.is(await recipeNameOf('recipes/lab.ts'), 'lab')
    assert.is(await recipeNameOf('./recipes/../recipes/lab.ts'), 'lab')
  } finally {
    process.chdir(cwd)
  }
})

test('missing-file: neither a name nor a file, with the path looked at', async () => {
  const error = await refusal(join(tmp, 'recipes/absent.ts'))
  assert.instance(error, UsageError)
  assert.is(error.message, `${join(tmp, 'recipes/absent.ts')} is neither a recipe name nor a recipe file (${join(tmp, 'recipes/absent.ts')} does not exist)`)
  assert.match(error.hint ?? '', 'pibake site')
  assert.instance(await refusal('Cluster-Node'), UsageError)
})

test('not-a-module: a folder or a file that is no module is neither', async () => {
  for (const path of [join(tmp, 'recipes'), join(tmp, 'notes.txt')]) {
    const error = await refusal(path)
    assert.instance(error, UsageError)
    assert.is(error.message, `${path} is neither a recipe name nor a recipe file (.ts, .mts, .js, .mjs)`)
  }
})

test('bad-name: a module whose name is no recipe name is a recipe error naming the file', async () => {
  const error = await refusal(join(tmp, 'recipes/bad-name.ts'))
  assert.instance(error, RecipeError)
  assert.match(error.message, join(tmp, 'recipes/bad-name.ts'))
  assert.match(error.message, 'name: "Lab 2" is not a recipe name')
})

test('no-default: a module that is not a recipe says so', async () => {
  const error = await refusal(join(tmp, 'recipes/no-default.ts'))
  assert.instance(error, RecipeError)
  assert.match(error.message, 'it has no default export')
})

test.run()
