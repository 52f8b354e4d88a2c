/**
 * `netboot.shrinkBoot` through the pipeline, on the tiny image with a fake arm64 Image, a gzip
 * initramfs that is a copy of the image's /boot/initrd.img-<version>, and that kernel's config:
 * the published boot files shrunk and the task list saying before → after, an unchanged rebuild
 * reusing the netboot stage, a recipe without it publishing the files as they were (and its cache
 * key without a trace of it), a kernel without CONFIG_RD_XZ refused (and a host without xz, at
 * verify), and `pibake plan`'s bytes per node per boot before and after.
 */
import { mkdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { build, plan } from '../../src/build.ts'
import { PreflightError, RecipeError, StageError } from '../../src/errors.ts'
import { formatBytes, type BuildEvent } from '../../src/pipeline/events.ts'
import { readManifest } from '../../src/pipeline/manifest.ts'
import type { StageContext } from '../../src/pipeline/stage.ts'
import { requireXzInitramfs } from '../../src/shrink/kernel-config.ts'
import { bootPlan } from '../../src/shrink/plan.ts'
import { netboot } from '../../src/stages/netboot.ts'
import { leftovers } from '../helpers/leftovers.ts'
import { makeProject, type Project } from '../helpers/project.ts'
import { cpio } from './cpio.ts'

const VERSION = '6.1.0-test-arm64'
let project: Project

/** An arm64 Image as far as the checks go: "ARM\x64" at byte 56, then compressible code. */
const image = Buffer.concat([Buffer.alloc(56), Buffer.from('ARMd', 'latin1'), Buffer.alloc(4), Buffer.from('kernel code '.repeat(20_000))])

const initramfs = gzipSync(cpio())

async function put(path: string, content: Buffer | string): Promise<void> {
  await mkdir(join(project.overlay, path, '..'), { recursive: true })
  await writeFile(join(project.overlay, path), content)
}

async function run(shrinkBoot: boolean | undefined) {
  const events: BuildEvent[] = []
  await build(project.recipe((input) => { if (shrinkBoot !== undefined) input.netboot.shrinkBoot = shrinkBoot }), { outDir: project.out, onEvent: (e) => events.push(e) })
  assert.equal(await leftovers(project.dir), [], 'no loop device or mount is left after a build')
  const planned = events.find((e): e is Extract<BuildEvent, { type: 'plan' }> => e.type === 'plan')!
  return { events, netboot: planned.stages.find((s) => s.name === 'netboot')!.status, steps: events.flatMap((e) => (e.type === 'step' && e.stage === 'netboot' && e.step.startsWith('shrink ') ? [e.step] : [])) }
}

/**
 * What alpha (a 4B) pulls besides its kernel and initramfs: config.txt twice, start4.elf, fixup4.dat,
 * its device tree, cmdline.txt (as the build has it: publish adds the node's root arguments).
 */
async function pi4Bytes(): Promise<number> {
  const cmdline = await readFile(join(project.out, 'work/test-node/stages/netboot/boot/cmdline.txt'))
  return 2 * (await served('config.txt')).length + 4096 + 1024 + 1024 + cmdline.length
}

/** A published boot file of node alpha (a 4B). */
const served = (name: string) => readFile(join(project.out, 'publish/tftp/dc-a6-32-00-00-01', name))

test.before(async () => {
  project = await makeProject()
  for (const name of ['kernel8.img', 'kernel_2712.img']) await put(`bootfs/${name}`, image)
  for (const name of ['initramfs8', 'initramfs_2712']) await put(`bootfs/${name}`, initramfs)
  await put(`rootfs/boot/initrd.img-${VERSION}`, initramfs)
  await put(`rootfs/boot/config-${VERSION}`, 'CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\nCONFIG_RD_XZ=y\n')
})
test.after(async () => {
  await project?.remove()
})

test('shrinkBoot publishes a gzip kernel and an xz initramfs, the same once unpacked, and says before → after for each file', async () => {
  const first = await run(true)
  assert.is(first.netboot, 'run')
  assert.equal(first.steps.map((s) => s.replace(/: .* → .* \(/, ': … → … (')), [
    'shrink kernel8.img: … → … (gzip)',
    'shrink kernel_2712.img: … → … (as kernel8.img)',
    'shrink initramfs8: … → … (xz)',
    'shrink initramfs_2712: … → … (as initramfs8)',
  ])
  const kernel = await served('kernel8.img')
  assert.is(first.steps[0], `shrink kernel8.img: ${formatBytes(image.length)} → ${formatBytes(kernel.length)} (gzip)`)
  assert.equal([...kernel.subarray(0, 2)], [0x1f, 0x8b], 'the kernel is gzip')
  assert.ok(gunzipSync(kernel).equals(image), 'unpacked, the same Image')
  assert.ok((await served('kernel_2712.img')).equals(kernel))
  const shrunk = await served('initramfs8')
  assert.equal([...shrunk.subarray(0, 6)], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'the initramfs is xz')
  assert.ok(shrunk.length < initramfs.length)
})

test('an unchanged rebuild reuses the shrunk netboot stage: nothing is shrunk twice', async () => {
  const before = await readlink(join(project.out, 'publish/nfs/test-node/current'))
  const kernel = await served('kernel8.img')
  const again = await run(true)
  assert.is(again.netboot, 'cached')
  assert.equal(again.steps, [])
  assert.is(await readlink(join(project.out, 'publish/nfs/test-node/current')), before, 'the same build stays live')
  assert.ok((await served('kernel8.img')).equals(kernel))
})

test('pibake plan: the bytes per node per boot, before and after shrinking', async () => {
  const recipe = project.recipe((input) => { input.netboot.shrinkBoot = true })
  const planned = await plan(recipe, { outDir: project.out })
  const boot = await bootPlan(recipe, project.out, planned.stages.filter((s) => s.status === 'skipped').map((s) => s.name))
  // beta, a 5, pulls kernel_2712.img and initramfs_2712, shrunk as alpha's kernel8.img and initramfs8.
  const [kernel, ramfs] = [(await served('kernel8.img')).length, (await served('initramfs8')).length]
  const pi4 = await pi4Bytes()
  assert.equal(boot.models.map((m) => [m.model, m.nodes]), [['4B', 1], ['5', 1]])
  assert.equal(boot.models[0], { model: '4B', nodes: 1, bytes: pi4 + kernel + ramfs, before: pi4 + image.length + initramfs.length })
  assert.is(boot.models[1]!.before! - boot.models[1]!.bytes, image.length + initramfs.length - kernel - ramfs)
  const [pi5] = boot.models.slice(1)
  assert.is(boot.line, `boot files: per node per boot over TFTP, as the last build made them: 4B: ${formatBytes(pi4 + kernel + ramfs)} (${formatBytes(pi4 + image.length + initramfs.length)} before shrinking), 5: ${formatBytes(pi5!.bytes)} (${formatBytes(pi5!.before!)} before shrinking)`)
})

test('without shrinkBoot the boot files are published as the image has them, and the cache key has no trace of it', async () => {
  const plain = await run(undefined)
  assert.is(plain.netboot, 'run')
  assert.equal(plain.steps, [])
  assert.ok((await served('kernel8.img')).equals(image), 'the kernel byte for byte')
  assert.ok((await served('initramfs8')).equals(initramfs), 'the initramfs byte for byte')
  const manifest = await readManifest(join(project.out, 'work/test-node/stages/netboot'))
  assert.ok(manifest && !('shrinkBoot' in manifest.inputs), 'no shrinkBoot input: the builds made before it existed stay cached')
  assert.is((await run(false)).netboot, 'cached', 'shrinkBoot: false is the same recipe as leaving it out')
  const boot = await bootPlan(project.recipe(), project.out)
  assert.equal(boot.models.map((m) => m.before), [undefined, undefined], 'nothing shrunk, no before')
  assert.is(boot.models[0]!.bytes, await pi4Bytes() + image.length + initramfs.length)
})

test('a kernel built without CONFIG_RD_XZ is refused before the stage changes anything', async () => {
  await put(`rootfs/boot/config-${VERSION}`, 'CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\n# CONFIG_RD_XZ is not set\n')
  try {
    const live = await readlink(join(project.out, 'publish/nfs/test-node/current'))
    try {
      await run(true)
      assert.unreachable('the build must fail')
    } catch (error) {
      assert.instance(error, StageError)
      const e = error as StageError
      assert.is(e.stage, 'netboot')
      assert.is(e.message, `netboot: netboot.shrinkBoot: its kernel ${VERSION} cannot unpack initramfs8 once it is xz: /boot/config-${VERSION} has "# CONFIG_RD_XZ is not set"`)
      assert.match(e.hint ?? '', 'leave netboot.shrinkBoot out')
    }
    assert.is(await readlink(join(project.out, 'publish/nfs/test-node/current')), live, 'nothing was published')
    assert.equal(await leftovers(project.dir), [])
  } finally {
    await put(`rootfs/boot/config-${VERSION}`, 'CONFIG_RD_XZ=y\n')
  }
})

test('the kernel of an initramfs is found by its /boot/initrd.img copy; one that is a copy of none is checked against every config', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pibake-shrink-'))
  try {
    const root = join(dir, 'root')
    const boot = join(dir, 'boot')
    await mkdir(join(root, 'boot'), { recursive: true })
    await mkdir(boot)
    await writeFile(join(boot, 'initramfs8'), initramfs)
    await writeFile(join(boot, 'initramfs7l'), Buffer.from('not gzip: left as it is, so not checked'))
    const refused = (message: string) => requireXzInitramfs(root, boot).then(() => assert.unreachable('refused'), (error: unknown) => assert.is((error as Error).message, message))
    await refused('netboot: netboot.shrinkBoot: cannot tell whether its kernel (it is a copy of no /boot/initrd.img-<version>) unpacks initramfs8 once it is xz: the image has no /boot/config-* to say CONFIG_RD_XZ=y')
    await writeFile(join(root, 'boot/config-6.1-a'), 'CONFIG_RD_XZ=y\n')
    await writeFile(join(root, 'boot/config-6.1-b'), 'CONFIG_RD_GZIP=y\n')
    await refused('netboot: netboot.shrinkBoot: its kernel (it is a copy of no /boot/initrd.img-<version>) cannot unpack initramfs8 once it is xz: /boot/config-6.1-b has no CONFIG_RD_XZ line')
    // A copy of initrd.img-6.1-a: only that kernel's config counts.
    await writeFile(join(root, 'boot/initrd.img-6.1-a'), initramfs)
    await requireXzInitramfs(root, boot)
    // /boot a symlink, as some images have it: followed inside the root.
    await rm(join(root, 'boot'), { recursive: true })
    await mkdir(join(root, 'kernel'))
    await writeFile(join(root, 'kernel/config-6.1-a'), '# CONFIG_RD_XZ is not set\n')
    await writeFile(join(root, 'kernel/initrd.img-6.1-a'), initramfs)
    await symlink('/kernel', join(root, 'boot'))
    await refused('netboot: netboot.shrinkBoot: its kernel 6.1-a cannot unpack initramfs8 once it is xz: /boot/config-6.1-a has "# CONFIG_RD_XZ is not set"')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('the netboot stage\'s verify refuses shrinkBoot on a host without xz, and only with shrinkBoot', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'pibake-no-xz-'))
  const path = process.env.PATH
  try {
    process.env.PATH = empty
    const verify = (shrinkBoot: boolean) => netboot.verify({ recipe: project.recipe((input) => { input.netboot.shrinkBoot = shrinkBoot }) } as StageContext)
    await verify(true).then(() => assert.unreachable('refused'), (error: unknown) => {
      assert.instance(error, PreflightError)
      assert.is((error as Error).message, 'missing programs: xz')
    })
    await verify(false)
  } finally {
    process.env.PATH = path
    rmSync(empty, { recursive: true, force: true })
  }
})

test('netboot.shrinkBoot must be true or false', () => {
  try {
    project.recipe((input) => { (input.netboot as unknown as Record<string, unknown>).shrinkBoot = 'yes' })
    assert.unreachable('refused')
  } catch (error) {
    assert.instance(error, RecipeError)
    assert.match((error as Error).message, 'netboot.shrinkBoot: must be true or false')
  }
})

test.run()
