/**
 * The hint of an interrupted build says what is true: which build each target still serves, or
 * that nothing was ever published there.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import { InterruptedError } from '../../src/errors.ts'
import { makeProject, type Project } from '../helpers/project.ts'
import { leftBehind } from '../helpers/leftovers.ts'

let project: Project

test.before(async () => {
  project = await makeProject()
})
test.after(async () => {
  await project.remove()
})

/** Builds, sending the interrupt as the CLI does when `stage` starts; returns what build threw. */
async function interruptAt(stage: string, force = false): Promise<InterruptedError> {
  const controller = new AbortController()
  const onEvent = (e: { type: string; stage?: string }) => {
    if (e.type === 'stage-start' && e.stage === stage) controller.abort(new InterruptedError('SIGINT'))
  }
  try {
    await build(project.recipe(), { outDir: project.out, signal: controller.signal, onEvent, force: force ? true : undefined })
  } catch (error) {
    assert.instance(error, InterruptedError)
    return error as InterruptedError
  }
  throw new Error(`the build interrupted at ${stage} finished`)
}

test('the hint of InterruptedError names each live build, or says there was none', () => {
  assert.is(new InterruptedError('SIGTERM').hint, 'everything the run had set up was undone')
  const none = new InterruptedError('SIGINT', [{ target: '/srv/site', build: undefined }])
  assert.is(none.hint, 'everything the run had set up was undone; nothing was ever published to /srv/site, so no build is live there')
  assert.not.match(none.hint ?? '', 'still live')
  const one = new InterruptedError('SIGINT', [{ target: 'root@boot:/srv/site', build: '20261130-1' }])
  assert.is(one.hint, 'everything the run had set up was undone; build 20261130-1 is still live at root@boot:/srv/site')
  assert.is(one.message, 'interrupted by SIGINT')
})

test('interrupted before anything was published: the hint says no build is live', async () => {
  const error = await interruptAt('extract')
  assert.equal(error.live, [{ target: join(project.out, 'publish'), build: undefined }])
  assert.match(error.hint ?? '', `nothing was ever published to ${join(project.out, 'publish')}`)
  assert.not.match(error.hint ?? '', 'still live')
  assert.equal(await leftBehind(project.dir), [])
})

test('interrupted after a publish: the hint names the build still live', async () => {
  const first = await build(project.recipe(), { outDir: project.out })
  assert.ok(first.summary.build)
  const error = await interruptAt('netboot', true)
  assert.equal(error.live, [{ target: join(project.out, 'publish'), build: first.summary.build }])
  assert.match(error.hint ?? '', `build ${first.summary.build} is still live at ${join(project.out, 'publish')}`)
  assert.equal(await leftBehind(project.dir), [])
})

test.run()
