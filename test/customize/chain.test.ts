/**
 * The customize steps as a chain of cached layers, on the arm64 demo image under real qemu-user:
 * editing the last step re-runs that step alone and gives the tree a build without the cache gives;
 * a layer changed or removed since it was built is built again; a failed step keeps the layers
 * before it; the chain folder holds no more than the chains it must.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { appendFile, readdir, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import { diffSnapshots, takeSnapshot, type Snapshot } from '../../src/snapshot/index.ts'
import { REPO } from './demo-root.ts'
import { freshOut, leftBehind, recipeProject, statuses, type RecipeProject } from './project.ts'

/** An out folder of its own: the other suites of this folder start theirs afresh, and may run meanwhile. */
const OUT = join(REPO, 'out/test-chain')

const STEPS = `    { kind: 'packages', install: ['tree'] },
    { kind: 'run', command: 'tree --version > /etc/tree-version' },
    { kind: 'write', path: '/etc/role', content: 'FIRST\\n' },`

const NAME = 'chain-arm64'
const MAC = 'dc:a6:32:00:00:11'
let project: RecipeProject
const chain = () => join(OUT, 'work', NAME, 'steps')
const published = () => join(OUT, `publish/nfs/${NAME}/current/`)

/** Each step sub-task of the customize stage, in order, `cached` or `ran`. */
function steps(events: readonly BuildEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'step' && e.stage === 'customize' ? [`${e.cached ? 'cached' : 'ran'} ${e.step.replace(/ \(.*\)$/, '')}`] : []))
}

/** The step layers in the chain folder: name → the steps each holds. */
async function layers(): Promise<Map<string, string>> {
  const names = (await readdir(chain())).filter((name) => name !== 'chain.json').sort()
  const entries = await Promise.all(names.map(async (name) => [name, JSON.parse(await readFile(join(chain(), name, 'link.json'), 'utf8')).steps.join()] as const))
  return new Map(entries)
}

async function layerOf(step: string): Promise<string> {
  const found = [...(await layers())].find(([, what]) => what.startsWith(step))
  assert.ok(found, `a layer holds ${step}`)
  return join(chain(), found![0])
}

/** Files whose content is a time stamp of the install (logs): they differ between any two installs. */
const TIMESTAMPED = /^\/var\/log\/(dpkg\.log|alternatives\.log|apt\/(history|term)\.log)$/

function sameTree(a: Snapshot, b: Snapshot): void {
  const diff = diffSnapshots(a, b)
  const paths = [...diff.added, ...diff.removed, ...diff.changed].map((c) => c.path).filter((path) => !TIMESTAMPED.test(path))
  assert.equal(paths, [], 'the trees are the same (time-stamped logs aside)')
}

test.before(async () => {
  await freshOut(OUT)
  project = await recipeProject(NAME, 'arm64', STEPS, { mac: MAC, out: OUT })
})
test.after(async () => {
  await project?.remove()
})

/** The host's own dpkg database and logs, which this host's apt-get working on the image must never touch. */
const HOST_STATE = ['/var/lib/dpkg/status', '/var/log/dpkg.log', '/var/log/apt/history.log']
const hostState = () => Promise.all(HOST_STATE.map((path) => stat(path).then((s) => `${path} ${s.size} ${s.mtimeMs}`, () => `${path} missing`)))

test('the first build runs every step, each in its own layer; the host\'s dpkg and apt state stay as they were', async () => {
  const host = await hostState()
  const events = await project.build({ skip: ['publish'] })
  assert.equal(await hostState(), host)
  assert.is(statuses(events).customize, 'run')
  assert.equal(steps(events), ['ran packages tree', 'ran run "tree --version > /etc/tree-version"', 'ran write /etc/role'])
  assert.is((await layers()).size, 3)
  assert.equal(await leftBehind(OUT), [])
})

let cached: Snapshot
test('editing the last step re-runs that step alone, and the tree is the one an uncached build makes', async () => {
  const before = await layers()
  await project.rewrite(project.text.replace('FIRST', 'SECOND'))
  const events = await project.build()
  assert.is(statuses(events).customize, 'run')
  assert.equal(steps(events), ['cached packages tree', 'cached run "tree --version > /etc/tree-version"', 'ran write /etc/role'])
  assert.ok(events.some((e) => e.type === 'info' && /2 cached layers reused/.test(e.message)))
  assert.is(await readFile(join(published(), 'etc/role'), 'utf8'), 'SECOND\n')
  assert.match(await readFile(join(published(), 'etc/tree-version'), 'utf8'), /^tree v/)
  cached = await takeSnapshot(published())
  const after = await layers()
  assert.is(after.size, 3, 'the old write step\'s layer is gone: only the latest chain is kept')
  assert.equal([...before.keys()].filter((key) => after.has(key)).length, 2, 'the first two layers are the same folders')

  const forced = await project.build({ force: ['customize'] })
  assert.equal(steps(forced), ['ran packages tree', 'ran run "tree --version > /etc/tree-version"', 'ran write /etc/role'], '--force runs every step')
  sameTree(cached, await takeSnapshot(published()))
  assert.equal(await leftBehind(OUT), [])
})

test('a file changed in a cached layer is found at plan time: that layer and the ones after it are built again', async () => {
  const layer = await layerOf('packages tree')
  await appendFile(join(layer, 'root/usr/bin/tree'), 'tampered')
  const events = await project.build()
  const planned = events.find((e) => e.type === 'plan')
  const reason = planned?.type === 'plan' ? planned.stages.find((s) => s.name === 'customize')?.reason : ''
  assert.match(reason ?? '', /layer of customize step 1 cannot be reused: a file in it was changed/)
  assert.equal(steps(events), ['ran packages tree', 'ran run "tree --version > /etc/tree-version"', 'ran write /etc/role'])
  sameTree(cached, await takeSnapshot(published()))
})

test('a removed layer is built again from there on; the layers before it are reused', async () => {
  await rm(await layerOf('write /etc/role'), { recursive: true })
  const events = await project.build({ skip: ['publish'] })
  assert.match(JSON.stringify(events.find((e) => e.type === 'plan')), /layer of customize step 3 cannot be reused: it is missing/)
  assert.equal(steps(events), ['cached packages tree', 'cached run "tree --version > /etc/tree-version"', 'ran write /etc/role'])
  assert.is((await layers()).size, 3)
})

test('a failing step keeps the layers before it (and the last good chain); fixing it re-runs from it', async () => {
  const good = await layers()
  const failing = project.text.replace("'tree --version > /etc/tree-version'", "'exit 3'").replace('FIRST', 'THIRD')
  await project.rewrite(failing)
  const error = await project.build({ skip: ['publish'] }).then(() => undefined, (e: unknown) => e)
  assert.match(String(error), /exited 3/)
  const kept = await layers()
  assert.ok([...good.keys()].every((key) => kept.has(key)), 'the last good chain is kept')
  assert.is(kept.size, 3, 'and nothing of the failed step')
  assert.equal(await leftBehind(OUT), [])

  await project.rewrite(failing.replace("'exit 3'", "'echo fixed > /etc/tree-version'"))
  const events = await project.build({ skip: ['publish'] })
  assert.equal(steps(events), ['cached packages tree', 'ran run "echo fixed > /etc/tree-version"', 'ran write /etc/role'])
  assert.is((await layers()).size, 3, 'the chain before is removed once a build succeeded')
})

test.run()
