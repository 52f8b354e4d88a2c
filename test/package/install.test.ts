/**
 * pibake as users get it: `npm pack`, `npm install -g --prefix` of the tarball, then that `pibake`:
 * on the host's old Node, which Node it needs; on a recipe in a site folder outside the checkout
 * with no node_modules: --version, plan, and a full build of the demo image that publishes (its
 * --json summary last). Then a site repository
 * with pibake as a dev dependency: the recipe type-checks against the package's declarations, and
 * its own `node_modules/.bin/pibake` runs it.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, readlink, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { buildDemoImage, type DemoImage } from '../../src/demo/build.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import { exec, type ExecResult } from '../../src/system/exec.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { writeSiteRecipe } from '../helpers/site-recipe.ts'

const repo = join(import.meta.dirname, '../..')
/** The host's Node, older than pibake needs (test/package/launcher.test.ts checks it is). */
const OLD_NODE = '/usr/bin/node'
const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }
// This Node first on PATH: npm's scripts and the installed bin's `#!/usr/bin/env node` use it.
const env = { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}` }
const npm = (args: string[], cwd: string) => exec(['npm', ...args, '--no-audit', '--no-fund'], { cwd, env })

let tmp = ''
let tarball = ''
let prefix = ''
let image: DemoImage
const seconds = (started: number) => ((performance.now() - started) / 1000).toFixed(1)

function pibake(args: string[], cwd: string, bin = join(prefix, 'bin/pibake')): Promise<ExecResult> {
  return exec([bin, ...args], { cwd, env, okCodes: [1, 2] })
}

test.before(async () => {
  image = await buildDemoImage({ arch: 'arm64', outDir: join(repo, 'out/demo') })
  tmp = await mkdtemp(join(tmpdir(), 'pibake-package-'))
})

test.after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

test('npm pack builds dist/ and packs only it, with declarations and the CLI', async () => {
  const started = performance.now()
  const { stdout } = await npm(['pack', '--json', '--pack-destination', tmp], repo)
  const [packed] = JSON.parse(stdout) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[]
  tarball = join(tmp, packed!.filename)
  const paths = packed!.files.map((f) => f.path)
  console.log(`npm pack: ${packed!.filename}, ${packed!.size} bytes (${packed!.unpackedSize} unpacked, ${paths.length} files) in ${seconds(started)} s`)
  assert.equal(paths.filter((p) => !p.startsWith('dist/')).sort(), ['README.md', 'bin/pibake.js', 'package.json'])
  for (const file of ['dist/cli.js', 'dist/index.js', 'dist/index.d.ts', 'dist/recipe/types.d.ts', 'dist/schedule/install.js']) assert.ok(paths.includes(file), file)
  assert.not.ok(paths.some((p) => p.endsWith('.ts') && !p.endsWith('.d.ts')), 'no TypeScript sources (Node would not strip them under node_modules)')
  const cli = readFileSync(join(repo, 'dist/cli.js'), 'utf8')
  assert.ok(cli.startsWith('#!/usr/bin/env -S node --max-semi-space-size=4\n'), 'the bin starts with its interpreter line, and the young generation capped at 4 MiB per half (peak memory)')
  assert.match(cli, "import('./cli/commands.js')", 'relative .ts imports were rewritten to .js')
})

test('npm install -g --prefix installs it from the tarball, and pibake --version runs', async () => {
  prefix = join(tmp, 'prefix')
  const started = performance.now()
  await npm(['install', '-g', '--prefix', prefix, '--prefer-offline', tarball], tmp)
  console.log(`npm install -g: ${seconds(started)} s`)
  assert.is(await readlink(join(prefix, 'bin/pibake')), '../lib/node_modules/pibake/bin/pibake.js')
  const result = await pibake(['--version'], tmp)
  assert.is(result.exitCode, 0, result.stderr)
  assert.is(result.stdout, version)
  assert.match((await pibake(['build', '--help'], tmp)).stdout, '--upgrade')
})

test('the installed pibake on a Node older than 22.18 says which Node it needs, and imports nothing', async () => {
  for (const argv of [[join(prefix, 'bin/pibake'), '--version'], [OLD_NODE, join(prefix, 'bin/pibake'), '--version']]) {
    // Its #! line's `env node` finds the old Node first on PATH.
    const result = await exec(argv, { cwd: tmp, env: { PATH: '/usr/bin:/bin' }, okCodes: [1] })
    assert.is(result.exitCode, 1, argv.join(' '))
    assert.is(result.stdout, '')
    assert.match(result.stderr, /^pibake: needs Node\.js 22\.18 or newer; this is Node\.js \d+\.\d+\.\d+ \(\/usr\/bin\/node\)\n/)
    assert.match(result.stderr, 'npm install -g node@24')
  }
})

test('a recipe in a site folder without node_modules: plan, then a build that publishes and ends with its summary', async () => {
  const site = join(tmp, 'site')
  const recipe = await writeSiteRecipe(site, 'workers', image)
  for (let dir = site; dir !== '/'; dir = dirname(dir)) assert.not.ok(existsSync(join(dir, 'node_modules')), `${dir}/node_modules`)
  const out = join(tmp, 'out')
  const plan = await pibake(['plan', 'recipes/workers.ts', '--out', out], site)
  assert.is(plan.exitCode, 0, plan.stderr)
  assert.match(plan.stdout, /^netboot\s+run/m)

  const started = performance.now()
  const first = await pibake(['build', recipe, '--out', out, '--json'], site)
  console.log(`installed pibake build of the demo image: ${seconds(started)} s`)
  assert.is(first.exitCode, 0, first.stderr)
  const summary = lastEvent(first.stdout)
  assert.is(summary.type, 'summary')
  if (summary.type !== 'summary') return
  assert.is(summary.recipe, 'workers')
  assert.is(summary.result, 'published')
  assert.is(await readlink(join(out, 'publish/nfs/workers/current')), `builds/${summary.build}`)
  assert.equal(summary.stages.map((s) => `${s.name}:${s.status}`), ['image:done', 'extract:done', 'overlay:done', 'customize:skipped', 'netboot:done', 'publish:done'])
  assert.ok(summary.stages.every((s) => s.status !== 'done' || (s.seconds ?? -1) >= 0), 'seconds for every stage that ran')
  assert.equal(summary.targets.map((t) => [t.target, t.id, t.copied]), [[join(out, 'publish/nfs'), summary.build, true]])
  assert.ok(summary.targets[0]!.bytes > 100 << 20, `bytes sent: ${summary.targets[0]!.bytes}`)
  assert.is(readFileSync(join(out, 'publish/nfs/workers/current/etc/motd'), 'utf8'), 'workers: baked by pibake from a site folder\n')

  const second = await pibake(['build', recipe, '--out', out, '--json'], site)
  assert.is(second.exitCode, 0, second.stderr)
  const again = lastEvent(second.stdout)
  assert.ok(again.type === 'summary' && again.result === 'unchanged' && again.build === summary.build, JSON.stringify(again))
  const warnings = [first.stdout, second.stdout].flatMap((run) => run.trim().split('\n').map((line) => JSON.parse(line) as BuildEvent)).filter((e) => e.type === 'warning')
  assert.equal(await leftBehind(out), [], `warnings: ${JSON.stringify(warnings)}`)
})

test('pibake schedule --print from the installed package runs its own dist/cli.js with this node', async () => {
  const site = join(tmp, 'site')
  const result = await pibake(['schedule', 'recipes/workers.ts', '--on-calendar', 'daily', '--out', join(tmp, 'out'), '--print'], site)
  assert.is(result.exitCode, 0, result.stderr)
  const cli = join(prefix, 'lib/node_modules/pibake/dist/cli.js')
  assert.match(result.stdout, `\nExecStart=${process.execPath} ${cli} build ${join(site, 'recipes/workers.ts')} --out ${join(tmp, 'out')} --plain\n`)
  assert.match(result.stdout, `\n0 0 * * * root nice -n 10 ionice -c 3 ${process.execPath} ${cli} build`)
})

test('a site repository with pibake as a dev dependency: the recipe type-checks, and its own pibake loads it', async () => {
  const site = join(tmp, 'site-repo')
  const recipe = await writeSiteRecipe(site, 'lab', image)
  // @types/node as this checkout has it (in the npm cache already): pibake's declarations name Node's types.
  const typesNode = (JSON.parse(readFileSync(join(repo, 'node_modules/@types/node/package.json'), 'utf8')) as { version: string }).version
  await writeFile(join(site, 'package.json'), `${JSON.stringify({ name: 'site', private: true, type: 'module', devDependencies: { pibake: `file:${tarball}`, '@types/node': typesNode } }, null, 2)}\n`)
  await npm(['install', '--prefer-offline'], site)
  const tsconfig = { compilerOptions: { module: 'nodenext', target: 'es2023', strict: true, noEmit: true, allowImportingTsExtensions: true, types: ['node'] }, include: ['recipes'] }
  await writeFile(join(site, 'tsconfig.json'), JSON.stringify(tsconfig))
  const tsc = () => exec([join(repo, 'node_modules/.bin/tsc'), '-p', join(site, 'tsconfig.json')], { cwd: site, env, okCodes: [1, 2] })
  const clean = await tsc()
  assert.is(clean.exitCode, 0, `${clean.stdout}${clean.stderr}`)
  // The check can fail: a field the recipe types do not have.
  await writeFile(recipe, readFileSync(recipe, 'utf8').replace("model: '400' }", "model: '400', colour: 'red' }"))
  const typo = await tsc()
  assert.is.not(typo.exitCode, 0, typo.stdout)
  assert.match(typo.stdout, "'colour' does not exist in type 'NodeInput'")
  await writeFile(recipe, readFileSync(recipe, 'utf8').replace(", colour: 'red' }", ' }'))
  const local = await pibake(['plan', 'recipes/lab.ts', '--out', join(tmp, 'out-lab')], site, join(site, 'node_modules/.bin/pibake'))
  assert.is(local.exitCode, 0, local.stderr)
  assert.ok((await stat(join(site, 'node_modules/pibake/dist/index.js'))).isFile())
})

function lastEvent(jsonLines: string): BuildEvent {
  const lines = jsonLines.trim().split('\n')
  return JSON.parse(lines.at(-1)!) as BuildEvent
}

test.run()
