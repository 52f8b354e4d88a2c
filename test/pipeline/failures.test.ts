/** Bad inputs and interruptions: a clear error, nothing left behind, the live build untouched. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { appendFile, copyFile, mkdir, readFile, readlink, truncate, writeFile } from 'node:fs/promises'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import { clean } from '../../src/clean.ts'
import { PreflightError, StageError } from '../../src/errors.ts'
import { exec } from '../../src/system/exec.ts'
import { makeProject, type Project } from '../helpers/project.ts'
import { leftovers } from '../helpers/leftovers.ts'

let project: Project
const current = () => readlink(join(project.out, 'publish/nfs/test-node/current'))

test.before(async () => {
  project = await makeProject()
  await project.write('etc/motd', 'good\n')
  await build(project.recipe(), { outDir: project.out })
})
test.after(async () => {
  await project.remove()
})

test('a wrong sha256 stops the build before anything is touched and names both hashes', async () => {
  const before = await current()
  try {
    await build(project.recipe((r) => void (r.image.sha256 = 'ab'.repeat(32))), { outDir: project.out })
    assert.unreachable()
  } catch (error) {
    assert.instance(error, PreflightError)
    assert.match((error as Error).message, `has sha256 ${project.image.sha256}, but the recipe says ${'ab'.repeat(32)}`)
    assert.match((error as PreflightError).hint ?? '', 'download it again')
  }
  assert.is(await current(), before)
  assert.equal(await leftovers(project.dir), [])
})

test('a truncated image fails with a hint about the image, leaves nothing and keeps the live build', async () => {
  const before = await current()
  const broken = join(project.dir, 'broken.img')
  await copyFile(project.image.img, broken)
  await truncate(broken, 4 << 20)
  const { stdout } = await exec(['sha256sum', broken])
  try {
    await build(project.recipe((r) => void (r.image = { path: broken, sha256: stdout.split(' ')[0]! })), { outDir: project.out })
    assert.unreachable()
  } catch (error) {
    assert.instance(error, StageError)
    assert.match((error as StageError).stage, 'extract')
    assert.match(`${(error as Error).message} ${(error as StageError).hint}`, /truncated|damaged|partition/)
  }
  assert.is(await current(), before)
  assert.equal(await leftovers(project.dir), [])
})

test('an overlay holding a fifo fails the overlay stage, discards its layer and publishes nothing', async () => {
  const before = await current()
  await exec(['mkfifo', join(project.overlay, 'rootfs/etc/a-fifo')])
  try {
    await build(project.recipe(), { outDir: project.out })
    assert.unreachable()
  } catch (error) {
    assert.instance(error, StageError)
    assert.is((error as StageError).stage, 'overlay')
    assert.match((error as Error).message, 'only files, folders and symlinks')
  } finally {
    await exec(['rm', join(project.overlay, 'rootfs/etc/a-fifo')])
  }
  assert.is(await current(), before)
  assert.equal(await leftovers(project.dir), [])
  const manifest = await readFile(join(project.out, 'work/test-node/stages/overlay/manifest.json'), 'utf8').catch(() => undefined)
  assert.is(manifest, undefined, 'the failed stage left no manifest: it runs again next time')
})

function runCli(args: string[]) {
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../bin/pibake.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return { child, exit, output: () => ({ stdout, stderr }) }
}

async function writeRecipeFile(change: string): Promise<string> {
  const recipe = project.recipe()
  const file = join(project.dir, 'cli-recipe.ts')
  const input = {
    name: recipe.name,
    image: { path: recipe.image.path, sha256: recipe.image.sha256 },
    overlays: [...recipe.overlays],
    netboot: { server: recipe.netboot.server, dhcp: recipe.netboot.dhcp, nfs: { server: recipe.netboot.nfs.server } },
    nodes: recipe.nodes.map(({ hostname, mac, ip, model }) => ({ hostname, mac, ip, model })),
  }
  await writeFile(file, `const recipe = ${JSON.stringify(input, null, 2)}\n${change}\nexport default recipe\n`)
  return file
}

test('Ctrl-C in the middle of a build undoes every mount and loop device and exits 130', async () => {
  const before = await current()
  await appendFile(join(project.overlay, 'rootfs/etc/motd'), 'interrupted\n')
  const big = join(project.overlay, 'rootfs/usr/share/big')
  await mkdir(big, { recursive: true })
  for (let i = 0; i < 400; i++) await writeFile(join(big, `f${i}`), `${i}`.repeat(2000))
  const file = await writeRecipeFile('')
  const run = runCli(['build', file, '--out', project.out, '--json'])
  let interrupted = false
  run.child.stdout.on('data', () => {
    if (!interrupted && /"stage-start","stage":"overlay"/.test(run.output().stdout)) {
      interrupted = true
      run.child.kill('SIGINT')
    }
  })
  const code = await run.exit
  assert.ok(interrupted, `the build reached the overlay stage: ${run.output().stderr}`)
  assert.is(code, 130, run.output().stderr)
  assert.match(run.output().stderr, 'interrupted by SIGINT')
  assert.equal(await leftovers(project.dir), [])
  assert.is(await current(), before)
  await exec(['rm', '-r', big])
})

test('after a SIGKILL, pibake clean removes the mounts and loop devices the run left', async () => {
  await appendFile(join(project.overlay, 'rootfs/etc/motd'), 'killed\n')
  const file = await writeRecipeFile('')
  const run = runCli(['build', file, '--out', project.out, '--json', '--force'])
  let killed = false
  run.child.stdout.on('data', () => {
    if (!killed && /"stage-start","stage":"overlay"/.test(run.output().stdout)) {
      killed = true
      run.child.kill('SIGKILL')
    }
  })
  await run.exit
  assert.ok(killed)
  // A mount made after the event was printed may or may not exist; the base mount always does.
  assert.ok((await leftovers(project.dir)).length > 0, 'a SIGKILLed run leaves its mounts')
  const done = await clean(project.out)
  assert.ok(done.some((line) => line.startsWith('unmounted')), done.join('\n'))
  assert.equal(await leftovers(project.dir), [])
  const again = await build(project.recipe(), { outDir: project.out })
  assert.ok(again.stages.some((s) => s.name === 'publish' && s.status === 'run'), 'a build works again after clean')
})

test('a recipe that fails to validate exits 2 and lists every problem', async () => {
  const file = await writeRecipeFile(`recipe.nodes[0].mac = 'zz'; recipe.name = 'Bad Name'; recipe.nodes[1].ip = recipe.nodes[0].ip`)
  const run = runCli(['build', file, '--out', project.out])
  assert.is(await run.exit, 2)
  const { stderr } = run.output()
  assert.match(stderr, 'nodes[0].mac')
  assert.match(stderr, 'name:')
  assert.match(stderr, 'nodes[1].ip')
})

test.run()
