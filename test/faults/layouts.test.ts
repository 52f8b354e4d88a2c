/**
 * Disk images as people have them, each a fixture made for the test: GPT, hybrid MBR/GPT and a third
 * (data) partition are baked and published like Raspberry Pi OS's MBR layout; a btrfs root and a
 * cut-short image are refused with a message that says what is wrong and what to do.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { readFile, readlink, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import { PibakeError } from '../../src/errors.ts'
import { readPartitionTable } from '../../src/system/partitions.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { makeProject, type Project } from '../helpers/project.ts'
import type { TinyImageOptions } from '../helpers/tiny-image.ts'

async function withProject(options: TinyImageOptions, run: (project: Project) => Promise<void>): Promise<void> {
  const project = await makeProject(options)
  try {
    await project.write('etc/motd', 'baked\n')
    await run(project)
    assert.equal(await leftBehind(project.out), [], 'no loop device or mount left behind')
  } finally {
    await project.remove()
  }
}

/** Builds and publishes; returns the live root's motd and a node's cmdline.txt. */
async function bake(project: Project): Promise<{ motd: string; cmdline: string; fstab: string }> {
  await build(project.recipe(), { outDir: project.out })
  const dir = join(project.out, 'publish/nfs/test-node')
  const root = join(dir, await readlink(join(dir, 'current')))
  return {
    motd: await readFile(join(root, 'etc/motd'), 'utf8'),
    cmdline: await readFile(join(project.out, 'publish/tftp/dc-a6-32-00-00-01/cmdline.txt'), 'utf8'),
    fstab: await readFile(join(root, 'etc/fstab'), 'utf8'),
  }
}

for (const table of ['gpt', 'hybrid'] as const) {
  test(`a ${table === 'gpt' ? 'GPT' : 'hybrid MBR/GPT'} image is baked and published like an MBR one`, async () => {
    await withProject({ table }, async (project) => {
      assert.is((await readPartitionTable(project.image.img)).label, 'gpt')
      const published = await bake(project)
      assert.is(published.motd, 'baked\n')
      assert.match(published.cmdline, 'root=/dev/nfs')
      assert.not.match(published.fstab, /PARTUUID=\S+\s+\/\s/, 'the root partition is not mounted by a node')
    })
  })
}

test('an image with a third (data) partition: boot and root found, the data partition left out of the nodes', async () => {
  await withProject({ dataPartition: true }, async (project) => {
    assert.is((await readPartitionTable(project.image.img)).partitions.length, 3)
    const published = await bake(project)
    assert.is(published.motd, 'baked\n')
    assert.not.match(published.fstab, /^LABEL=data\s/m, 'a disk partition a diskless node does not have is not in its fstab')
  })
})

test('a btrfs root is refused, naming the partition and the filesystem', async () => {
  await withProject({ btrfsRoot: true }, async (project) => {
    const error = await build(project.recipe(), { outDir: project.out }).catch((e: unknown) => e)
    assert.instance(error, PibakeError)
    assert.match((error as Error).message, `${project.image.img}: the root partition (2) holds btrfs; pibake bakes ext4 roots only`)
    assert.match((error as PibakeError).hint ?? '', 'convert the root to ext4')
  })
})

test('a cut-short image is refused as such, before anything is mounted', async () => {
  await withProject({}, async (project) => {
    await truncate(project.image.img, 30 * 1024 * 1024)
    // The recipe names the cut-short file's own sha256 (a download cut short before its checksum was
    // taken): the sha256 check passes and the build itself must find the partition beyond the end.
    const sha256 = createHash('sha256').update(await readFile(project.image.img)).digest('hex')
    const error = await build(project.recipe((input) => { input.image = { path: project.image.img, sha256 } }), { outDir: project.out }).catch((e: unknown) => e)
    assert.instance(error, PibakeError)
    assert.match((error as Error).message, /is cut short: partition \d ends at byte \d+, but the file has 31457280 bytes/)
    assert.match((error as PibakeError).hint ?? '', 'download the image again')
  })
})

test.run()
