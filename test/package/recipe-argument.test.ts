/**
 * Every command that names a recipe of the site (site, rollback, unpublish, gc, report, schedule
 * --remove) takes its name or its recipe file, through bin/pibake.js: `pibake report
 * recipes/lab.ts` is `pibake report lab`. The site is records written as publish writes them. The
 * commands that run a recipe (build, plan, nodes, try) take its name too: the file its site record
 * names, when that file is one only root can change.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NAMES_A_RECIPE } from '../../src/cli/commands.ts'
import { RUNS_A_RECIPE } from '../../src/cli/commands.ts'
import { newBuildId } from '../../src/publish/builds.ts'
import { loadRecipe } from '../../src/recipe/load.ts'
import { recordFor, withLive } from '../../src/site/record.ts'
import { openSite, writeRecord } from '../../src/site/store.ts'
import { exec, type ExecResult } from '../../src/system/exec.ts'

const repo = join(import.meta.dirname, '../..')
let tmp = ''
let target = ''

function pibake(...args: string[]): Promise<ExecResult> {
  return exec([process.execPath, join(repo, 'bin/pibake.js'), ...args], { cwd: tmp, okCodes: [1, 2] })
}

/** A recipe file of `name` whose image is not there: commands that name a published recipe read only its name. */
const recipeFile = (name: string) => `import { defineRecipe } from 'pibake'\nexport default defineRecipe({ name: '${name}', image: { path: '../gone.img', sha256: '00' }, netboot: { server: '10.0.0.1', dhcp: { mode: 'proxy' }, nfs: { server: '10.0.0.1' } }, nodes: [] })\n`

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pibake-recipe-cli-'))
  target = join(tmp, 'site')
  await mkdir(join(tmp, 'recipes'))
  for (const name of ['lab', 'workers', 'absent']) await writeFile(join(tmp, `recipes/${name}.ts`), recipeFile(name))
  await writeFile(join(tmp, 'recipes/broken.ts'), 'export default { name: 42 }\n')
  const minimal = await loadRecipe(join(repo, 'test/recipe/fixtures/valid/minimal.ts'), { outDir: join(tmp, 'out') })
  const first = new Date(Date.UTC(2026, 10, 24, 17, 42, 33))
  const second = new Date(first.getTime() + 24 * 3600 * 1000)
  for (const name of ['lab', 'workers']) {
    const recipe = { ...minimal, name }
    const where = { nfs: recipe.publish[0]!.nfs, tftp: recipe.publish[0]!.tftp }
    const record = recordFor(recipe, where, recipe.publish[0]!.keep, undefined, first)
    await writeRecord(openSite({ kind: 'local', path: target }), withLive(withLive(record, newBuildId('1a2b3c4d5e', first), first, 1000), newBuildId('9f8e7d6c5b', second), second))
  }
})
test.after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

test('pibake site recipes/lab.ts is pibake site lab: that recipe alone', async () => {
  const byFile = await pibake('site', 'recipes/lab.ts', '--target', target, '--json')
  assert.is(byFile.exitCode, 0, byFile.stderr)
  assert.equal((JSON.parse(byFile.stdout) as { recipes: { recipe: string }[] }).recipes.map((r) => r.recipe), ['lab'])
  assert.is(byFile.stdout, (await pibake('site', 'lab', '--target', target, '--json')).stdout)
  const text = await pibake('site', join(tmp, 'recipes/workers.ts'), '--target', target)
  assert.match(text.stdout, /^workers {2}\(/m)
  assert.not.match(text.stdout, /^lab /m)
  assert.equal((JSON.parse((await pibake('site', '--target', target, '--json')).stdout) as { recipes: { recipe: string }[] }).recipes.map((r) => r.recipe), ['lab', 'workers'])
})

test('pibake gc recipes/lab.ts is pibake gc lab', async () => {
  const byFile = await pibake('gc', 'recipes/lab.ts', '--keep-builds', '1', '--dry-run', '--target', target, '--json')
  assert.is(byFile.exitCode, 0, byFile.stderr)
  const results = JSON.parse(byFile.stdout) as { recipe: string; removed: { id: string }[] }[]
  assert.equal(results.map((r) => [r.recipe, r.removed.length]), [['lab', 1]])
  assert.is(byFile.stdout, (await pibake('gc', 'lab', '--keep-builds', '1', '--dry-run', '--target', target, '--json')).stdout)
})

test('each command that names a recipe takes a recipe file for its name: an unpublished one is refused by that name', async () => {
  assert.equal([...NAMES_A_RECIPE].sort(), ['gc', 'report', 'rollback', 'site', 'unpublish'])
  for (const command of NAMES_A_RECIPE) {
    const result = await pibake(command, 'recipes/absent.ts', '--target', target, '--out', join(tmp, 'out'))
    assert.is(result.exitCode, 1, `${command}: ${result.stderr}`)
    assert.match(result.stderr, `pibake: no recipe "absent" is published to the site at ${target}\nhint: recipes there: lab, workers`, `${command}: ${result.stderr}`)
  }
})

test('rollback takes a recipe file: it reaches that recipe\'s builds', async () => {
  const result = await pibake('rollback', 'recipes/lab.ts', '--to', '20200101-000000-00000000', '--target', target)
  assert.is(result.exitCode, 1)
  assert.match(result.stderr, 'pibake: lab has no build 20200101-000000-00000000')
})

test('a file that is not there, or not a recipe, is a usage or recipe error (exit 2), for every command', async () => {
  for (const command of [...NAMES_A_RECIPE, 'schedule']) {
    const args = command === 'schedule' ? ['--remove', '--unit-dir', tmp] : ['--target', target]
    const missing = await pibake(command, 'recipes/typo.ts', ...args)
    assert.is(missing.exitCode, 2, `${command}: ${missing.stderr}`)
    assert.match(missing.stderr, `pibake: recipes/typo.ts is neither a recipe name nor a recipe file (${join(tmp, 'recipes/typo.ts')} does not exist)\n`, command)
    const broken = await pibake(command, 'recipes/broken.ts', ...args)
    assert.is(broken.exitCode, 2, `${command}: ${broken.stderr}`)
    assert.match(broken.stderr, 'name: 42 is not a recipe name', command)
  }
})

test('build, plan, nodes and try take a recipe\'s name: the file its site record names; a file others could change is refused', async () => {
  assert.equal([...RUNS_A_RECIPE].sort(), ['build', 'nodes', 'plan', 'try'])
  const out = join(tmp, 'out')
  const fixture = join(repo, 'test/recipe/fixtures/valid/minimal.ts')
  const minimal = await loadRecipe(fixture, { outDir: out })
  const site = openSite({ kind: 'local', path: target })
  const where = { nfs: minimal.publish[0]!.nfs, tftp: minimal.publish[0]!.tftp }
  await writeRecord(site, recordFor(minimal, where, minimal.publish[0]!.keep, undefined, new Date()))
  const byName = await pibake('nodes', 'minimal', '--target', target, '--out', out, '--json')
  assert.is(byName.exitCode, 0, byName.stderr)
  assert.is(byName.stdout, (await pibake('nodes', fixture, '--out', out, '--json')).stdout)
  assert.equal((JSON.parse(byName.stdout) as { hostname: string }[]).map((n) => n.hostname), ['node1'])
  // A record naming a file in a folder anyone may write to: someone else's code would run as root.
  const open = join(tmp, 'open')
  await mkdir(open)
  await chmod(open, 0o777)
  await copyFile(fixture, join(open, 'minimal.ts'))
  await writeRecord(site, { ...recordFor(minimal, where, minimal.publish[0]!.keep, undefined, new Date()), file: join(open, 'minimal.ts') })
  for (const command of RUNS_A_RECIPE) {
    const refused = await pibake(command, 'minimal', '--target', target, '--out', out)
    assert.is(refused.exitCode, 1, `${command}: ${refused.stderr}`)
    assert.match(refused.stderr, `pibake: not running minimal's recipe file, named by its site record: its folder ${open} is owned by uid 0, mode 777`, command)
  }
  // A record naming another recipe's file.
  await writeRecord(site, { ...recordFor({ ...minimal, name: 'lab' }, where, minimal.publish[0]!.keep, undefined, new Date()) })
  const other = await pibake('plan', 'lab', '--target', target, '--out', out)
  assert.is(other.exitCode, 1, other.stderr)
  assert.match(other.stderr, `pibake: the site's record of lab names ${fixture}, whose recipe is minimal`)
  const unknown = await pibake('build', 'nosuch', '--target', target, '--out', out)
  assert.is(unknown.exitCode, 2)
  assert.match(unknown.stderr, `pibake: no recipe named nosuch is published at ${target}, and it is not a recipe file`)
})

test('schedule --remove takes a recipe file whose image is gone', async () => {
  const result = await pibake('schedule', '--remove', 'recipes/lab.ts', '--unit-dir', tmp)
  assert.is(result.exitCode, 1, result.stderr)
  assert.match(result.stderr, `pibake: no units of pibake-lab in ${tmp}`)
})

test.run()
