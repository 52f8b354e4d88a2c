/**
 * A reproducible build dates every file it changes with SOURCE_DATE_EPOCH, so a file changed since
 * the previous build can keep its size and its time: publishing against the previous build (the
 * hard-linked copy on this machine, and rsync --link-dest) must compare it by content, or the new
 * build would silently get the old file.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import { rsync } from '../../src/system/rsync.ts'
import { makeProject } from '../helpers/project.ts'

test('a file changed since the previous build, of the same size and date, is published with its new content', async () => {
  const project = await makeProject()
  try {
    const nfs = join(project.out, 'publish/nfs/test-node')
    const publish = async () => {
      const events: BuildEvent[] = []
      await build(project.recipe(), { outDir: project.out, onEvent: (e) => events.push(e) })
      const root = join(nfs, await readlink(join(nfs, 'current')))
      return { root, infos: events.flatMap((e) => (e.type === 'info' && e.stage === 'publish' ? [e.message] : [])) }
    }
    await project.write('etc/cluster-role', 'worker\n')
    const first = await publish()
    await project.write('etc/cluster-role', 'master\n')
    const second = await publish()
    assert.ok(second.infos.some((m) => m.includes(`hard links to build`)), `the second build was made from the first:\n${second.infos.join('\n')}`)
    const [a, b] = await Promise.all([lstat(join(first.root, 'etc/cluster-role')), lstat(join(second.root, 'etc/cluster-role'))])
    assert.equal([a.size, a.mtimeMs], [b.size, b.mtimeMs], 'the two files have the same size and date (the case under test)')
    assert.is(await readFile(join(second.root, 'etc/cluster-role'), 'utf8'), 'master\n')
    assert.is(await readFile(join(first.root, 'etc/cluster-role'), 'utf8'), 'worker\n', 'the first build is left as it was')
  } finally {
    await project.remove()
  }
})

test('rsync --link-dest against the previous build compares such a file by content', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-same-date-'))
  try {
    for (const [tree, text] of [['previous', 'worker\n'], ['source', 'master\n']] as const) {
      await mkdir(join(dir, tree, 'etc'), { recursive: true })
      await writeFile(join(dir, tree, 'etc/cluster-role'), text)
      await utimes(join(dir, tree, 'etc/cluster-role'), 1_700_000_000, 1_700_000_000)
    }
    await rsync(join(dir, 'source'), join(dir, 'dest'), { args: ['--archive'], linkDest: join(dir, 'previous') })
    assert.is(await readFile(join(dir, 'dest/etc/cluster-role'), 'utf8'), 'master\n')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
