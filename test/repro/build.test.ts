/**
 * Reproducible builds, on the arm64 demo image under real qemu-user: a recipe that installs a package
 * from apt, adds a user, copies a file, enables a unit and installs a local .deb, built twice from
 * scratch (`--force`, everything but the apt cache removed in between), gives published trees (the
 * root and the boot files) that `pibake diff --mtime` finds identical, times included; the same
 * recipe with the local package one version up, built again over the second build, gives a root
 * that differs from it in that package's files and dpkg's records of it, and in nothing else.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { chmod, mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { diffSnapshots, formatDiff, isEmptyDiff, takeSnapshot, writeSnapshot, type Diff, type Snapshot } from '../../src/snapshot/index.ts'
import { imageDate } from '../../src/repro/epoch.ts'
import { REPO, mountDemoRoot } from '../customize/demo-root.ts'
import { HASH, freshOut, leftBehind, recipeProject, type RecipeProject } from '../customize/project.ts'

const run = promisify(execFile)
// The image's date is the SOURCE_DATE_EPOCH under test: one set around the test run would win over it.
delete process.env.SOURCE_DATE_EPOCH
const OUT = join(REPO, 'out/test-repro')
const NAME = 'repro'
const DEB = 'files/pibake-repro.deb'

const STEPS = `    { kind: 'packages', install: ['tree'] },
    { kind: 'users', users: [{ name: 'alice', uid: 2001, password: '${HASH}', groups: ['sudo'] }] },
    { kind: 'copy', from: 'files/hello.service', to: '/etc/systemd/system/hello.service' },
    { kind: 'enable', units: ['hello'] },
    { kind: 'copy', from: '${DEB}', to: '/root/pibake-repro.deb' },
    { kind: 'run', command: 'dpkg -i /root/pibake-repro.deb && rm /root/pibake-repro.deb' },`

interface Built {
  readonly root: Snapshot
  readonly boot: Snapshot
}

let project: RecipeProject
let first: Built
let second: Built
let epoch: number

test.before(async () => {
  await freshOut(OUT)
  project = await recipeProject(NAME, 'arm64', STEPS, { out: OUT, mac: 'dc:a6:32:00:00:21' })
  const demo = await mountDemoRoot('arm64')
  epoch = await imageDate(demo.base).finally(() => demo.remove())
})

test.after(async () => {
  await project?.remove()
})

/** A local package, `pibake-repro` at `version`, its one file saying which version it is. */
async function writeDeb(version: string): Promise<void> {
  const dir = join(project.dir, 'deb')
  await rm(dir, { recursive: true, force: true })
  await mkdir(join(dir, 'DEBIAN'), { recursive: true })
  await mkdir(join(dir, 'usr/share/pibake-repro'), { recursive: true })
  await writeFile(join(dir, 'DEBIAN/control'), `Package: pibake-repro\nVersion: ${version}\nArchitecture: all\nMaintainer: pibake tests <tests@pibake.invalid>\nDescription: a package of the reproducibility test\n`)
  await writeFile(join(dir, 'usr/share/pibake-repro/version'), `${version}\n`)
  await chmod(join(dir, 'usr/share/pibake-repro/version'), 0o644)
  const env = { ...process.env, SOURCE_DATE_EPOCH: '1700000000' }
  await run('dpkg-deb', ['--root-owner-group', '--build', dir, join(project.dir, DEB)], { env })
}

/** Builds from scratch (nothing but the apt cache kept) and snapshots what was published. */
async function buildFromScratch(): Promise<Built> {
  await freshOut(OUT)
  await project.build({ force: true })
  return published()
}

/** Builds again over the last build (the steps from the first changed one on) and snapshots what was published. */
async function buildAgain(): Promise<Built> {
  await project.build()
  return published()
}

async function published(): Promise<Built> {
  const id = (await readlink(join(OUT, `publish/nfs/${NAME}/current`))).replace(/^builds\//, '')
  const root = await takeSnapshot(join(OUT, `publish/nfs/${NAME}/builds`, id))
  const boot = await takeSnapshot(join(OUT, `publish/tftp/builds/${NAME}`, id, 'common'))
  assert.equal(await leftBehind(OUT), [])
  return { root, boot }
}

/** `pibake diff --mtime` of two saved snapshots, as a person runs it. */
async function pibakeDiff(a: Snapshot, b: Snapshot, name: string): Promise<string> {
  const files = [join(project.dir, `${name}-1.json`), join(project.dir, `${name}-2.json`)]
  await writeSnapshot(a, files[0]!)
  await writeSnapshot(b, files[1]!)
  const { stdout } = await run(process.execPath, ['--conditions=pibake-source', join(REPO, 'src/cli.ts'), 'diff', '--mtime', ...files])
  return stdout.trim()
}

function changedPaths(diff: Diff): string[] {
  return [...diff.added, ...diff.removed, ...diff.changed].map((change) => change.path).sort()
}

test('the same recipe built twice from scratch gives the same root and boot files, times included', async () => {
  await writeDeb('1.0')
  first = await buildFromScratch()
  second = await buildFromScratch()
  for (const tree of ['root', 'boot'] as const) {
    const diff = diffSnapshots(first[tree], second[tree], { mtime: true })
    assert.ok(isEmptyDiff(diff), `the ${tree} trees differ:\n${formatDiff(diff).slice(0, 4000)}`)
    assert.is(await pibakeDiff(first[tree], second[tree], tree), '0 added, 0 removed, 0 changed')
  }
})

test("what the build changed is dated with the image's date, and what packages brought keeps their own dates", async () => {
  const entry = (path: string) => second.root.entries.find((e) => e.path === path)
  for (const path of ['/etc/systemd/system/hello.service', '/etc/shadow', '/home/alice', '/etc/hosts', '/var/lib/dpkg/status']) assert.is(entry(path)?.mtime, epoch, path)
  assert.is(entry('/usr/share/pibake-repro/version')?.mtime, 1_700_000_000, "the local package's file keeps its .deb's date")
  assert.ok((entry('/usr/bin/tree')?.mtime ?? Infinity) < epoch, "tree's program keeps its .deb's date")
  assert.not.ok(second.root.entries.some((e) => e.mtime > epoch), 'no entry is newer than SOURCE_DATE_EPOCH')
  const shadow = await readFile(join(OUT, `publish/nfs/${NAME}/current/etc/shadow`), 'utf8')
  const day = /^alice:[^:]*:(\d+):/m.exec(shadow)?.[1]
  assert.is(Number(day), Math.floor(epoch / 86_400), "alice's last password change is SOURCE_DATE_EPOCH's day, not today")
})

test('one version up of the local package gives a root that differs in its files and dpkg records alone', async () => {
  await writeDeb('1.1')
  // Not from scratch: the copy of the .deb changed, so the build runs again from that step on
  // (a third build from scratch cost CI ~2 min and proves nothing the first two do not).
  const third = await buildAgain()
  const diff = diffSnapshots(second.root, third.root, { mtime: true })
  const changed = changedPaths(diff)
  assert.ok(changed.includes('/usr/share/pibake-repro/version'), `the package's file differs:\n${formatDiff(diff)}`)
  assert.ok(changed.includes('/var/lib/dpkg/status'), "dpkg's status differs")
  const stray = changed.filter((path) => !/^\/usr\/share\/pibake-repro\/version$|^\/var\/lib\/dpkg\/(status|status-old|info\/pibake-repro\.\w+)$/.test(path))
  assert.equal(stray, [], `only the package and dpkg's records of it differ:\n${formatDiff(diff)}`)
  const status = await readFile(join(OUT, `publish/nfs/${NAME}/current/var/lib/dpkg/status`), 'utf8')
  assert.match(status, /Package: pibake-repro\n(.+\n)*Version: 1\.1\n/)
  assert.not.equal(await pibakeDiff(second.root, third.root, 'version-up'), '0 added, 0 removed, 0 changed')
})

test.run()
