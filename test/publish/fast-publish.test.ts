/**
 * Publishing to this machine without rsync makes what rsync made. The finished tree of a real
 * build (every layer over the image's root, mounted as publish sees it) is copied again here with
 * rsync -aHAX as the earlier pibake did (--link-dest on the previous build for a changed one), and
 * the two published trees are compared as snapshot diffs: entries, owners, modes, times, contents,
 * xattrs and hard links.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, mkdir, readlink, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import { Workspace } from '../../src/pipeline/workspace.ts'
import { diffSnapshots, formatDiff, isEmptyDiff, takeSnapshot } from '../../src/snapshot/index.ts'
import { Cleanup } from '../../src/system/cleanup.ts'
import { rsync, ROOTFS_ARGS } from '../../src/system/rsync.ts'
import { makeProject, type Project } from '../helpers/project.ts'

let project: Project
const nfs = () => join(project.out, 'publish/nfs/test-node')

async function publish(): Promise<{ root: string; infos: string[] }> {
  const events: BuildEvent[] = []
  await build(project.recipe(), { outDir: project.out, onEvent: (e) => events.push(e) })
  const infos = events.flatMap((e) => (e.type === 'info' && e.stage === 'publish' ? [e.message] : []))
  return { root: join(nfs(), await readlink(join(nfs(), 'current'))), infos }
}

/** rsync of the build's finished tree, mounted here as publish mounts it, into `dest`. */
async function rsyncReference(dest: string, linkDest?: string): Promise<void> {
  const cleanup = new Cleanup()
  try {
    const workspace = new Workspace(project.out, 'test-node', cleanup, new AbortController().signal)
    workspace.layers = ['overlay', 'netboot']
    const views = await workspace.mountFinal(cleanup)
    await rsync(views.root, dest, { args: ROOTFS_ARGS, linkDest })
  } finally {
    await cleanup.run()
  }
}

async function assertSame(reference: string, published: string, what: string): Promise<void> {
  const diff = diffSnapshots(await takeSnapshot(reference), await takeSnapshot(published), { mtime: true })
  assert.ok(isEmptyDiff(diff), `${what}:\n${formatDiff(diff)}`)
}

test.before(async () => {
  project = await makeProject()
  await project.write('etc/motd', 'first\n')
  await project.write('usr/local/bin/tool', '#!/bin/sh\necho tool\n', 0o755)
  await project.write('etc/old.conf', 'goes away\n')
})
test.after(async () => {
  await project.remove()
})

test('a first publish is copied with cp -a, and equals rsync -aHAX of the same tree', async () => {
  const first = await publish()
  assert.ok(first.infos.some((m) => m.includes('copied with cp -a')), first.infos.join('\n'))
  await rsyncReference(join(project.dir, 'reference-1'))
  await assertSame(join(project.dir, 'reference-1'), first.root, 'cp -a differs from rsync')
})

test('after one overlay file changed, one added and one removed, the build made from the previous one equals rsync --link-dest', async () => {
  const previous = join(nfs(), await readlink(join(nfs(), 'current')))
  await project.write('etc/motd', 'second\n')
  await project.write('etc/new.conf', 'new\n')
  await rm(join(project.overlay, 'rootfs/etc/old.conf'))
  const second = await publish()
  assert.is.not(second.root, previous)
  assert.ok(second.infos.some((m) => m.includes('hard links to build')), second.infos.join('\n'))
  await rsyncReference(join(project.dir, 'reference-2'), previous)
  await assertSame(join(project.dir, 'reference-2'), second.root, 'the build made from the previous one differs from rsync --link-dest')
  const inode = async (tree: string, path: string) => (await lstat(join(tree, path))).ino
  assert.is(await inode(second.root, 'usr/bin/dpkg'), await inode(previous, 'usr/bin/dpkg'), 'the image\'s files are hard links to the previous build')
  assert.is(await inode(second.root, 'usr/local/bin/tool'), await inode(previous, 'usr/local/bin/tool'), 'so is an unchanged overlay file')
  assert.is.not(await inode(second.root, 'etc/motd'), await inode(previous, 'etc/motd'), 'the changed file is a file of its own')
  await assertSame(join(project.dir, 'reference-1'), previous, 'the previous build is untouched')
})

test('a publish that was cut off is resumed with rsync, and the result equals rsync --link-dest', async () => {
  const previous = join(nfs(), await readlink(join(nfs(), 'current')))
  await mkdir(join(nfs(), 'builds/.20261130-000000-deadbeef.partial/etc'), { recursive: true })
  await writeFile(join(nfs(), 'builds/.20261130-000000-deadbeef.partial/etc/motd'), 'half\n')
  await project.write('etc/motd', 'third\n')
  const third = await publish()
  assert.ok(third.infos.some((m) => m.startsWith('resuming the cut-off publish')), third.infos.join('\n'))
  assert.not.ok(third.infos.some((m) => m.startsWith('root filesystem:')), 'no cp, no hard-linked copy')
  await rsyncReference(join(project.dir, 'reference-3'), previous)
  await assertSame(join(project.dir, 'reference-3'), third.root, 'the resumed publish differs from rsync --link-dest')
})

test.run()
