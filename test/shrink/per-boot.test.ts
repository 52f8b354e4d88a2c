/**
 * The bytes a node pulls per boot, counted from a boot tree: the files its model's firmware asks
 * for in order (config.txt and what it includes, the kernel it names, the initramfs it names), and
 * a stack of overlayfs layers read without mounting, whiteouts hiding what is below them.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { bytesPerBoot, folderTree, layeredTree } from '../../src/shrink/per-boot.ts'
import { exec } from '../../src/system/exec.ts'

async function files(dir: string, content: Record<string, string | number>): Promise<void> {
  for (const [name, value] of Object.entries(content)) {
    await mkdir(join(dir, name, '..'), { recursive: true })
    await writeFile(join(dir, name), typeof value === 'number' ? Buffer.alloc(value) : value)
  }
}

test('a Pi 4 and a Pi 3: the firmware files, config.txt and its include, the kernel config.txt names, its initramfs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pibake-per-boot-'))
  try {
    const config = 'include extra.txt\n[pi3]\nkernel=kernel-pi3.img\n[all]\n'
    const extra = 'initramfs ramfs.gz followkernel\ndtoverlay=vc4\n'
    await files(dir, {
      'config.txt': config, 'extra.txt': extra, 'start4.elf': 1000, 'fixup4.dat': 100,
      'bootcode.bin': 50, 'start.elf': 900, 'fixup.dat': 90, 'bcm2711-rpi-4-b.dtb': 40, 'bcm2710-rpi-3-b.dtb': 30, 'overlays/vc4.dtbo': 7,
      'cmdline.txt': 'console=tty1\n', 'kernel8.img': 20_000, 'kernel-pi3.img': 15_000, 'ramfs.gz': 5_000, 'initramfs8': 99_999,
    })
    const tree = folderTree(dir)
    const pi4 = await bytesPerBoot(tree, '4B')
    const c = config.length
    assert.equal(pi4.files.map((f) => f.name), ['config.txt', 'start4.elf', 'fixup4.dat', 'config.txt', 'extra.txt', 'bcm2711-rpi-4-b.dtb', 'overlays/vc4.dtbo', 'cmdline.txt', 'kernel8.img', 'ramfs.gz'])
    assert.is(pi4.bytes, 2 * c + 1000 + 100 + extra.length + 40 + 7 + 13 + 20_000 + 5_000)
    const pi3 = await bytesPerBoot(tree, '3B')
    assert.equal(pi3.files.map((f) => f.name), ['bootcode.bin', 'config.txt', 'start.elf', 'fixup.dat', 'config.txt', 'extra.txt', 'bcm2710-rpi-3-b.dtb', 'overlays/vc4.dtbo', 'cmdline.txt', 'kernel-pi3.img', 'ramfs.gz'])
    // A node's own config.txt lines count: here it names another initramfs.
    const own = await bytesPerBoot(tree, '4B', ['initramfs initramfs8 followkernel'])
    assert.is(own.files.at(-1)!.name, 'initramfs8')
    assert.is(own.bytes - pi4.bytes, 99_999 - 5_000)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('layers read top first: a file of an upper layer wins, a whiteout hides a file and a folder below it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pibake-per-boot-'))
  try {
    const [top, middle, bottom] = ['top', 'middle', 'bottom'].map((name) => join(dir, name)) as [string, string, string]
    await files(bottom, { 'kernel8.img': 300, 'initramfs8': 200, 'overlays/a.dtbo': 10, 'fixup4.dat': 5 })
    await files(middle, { 'kernel8.img': 100 })
    await files(top, { 'config.txt': 'auto_initramfs=1\n' })
    const whiteout = (path: string) => exec(['mknod', path, 'c', '0', '0'])
    await whiteout(join(top, 'initramfs8'))
    await mkdir(join(top, 'x'))
    await whiteout(join(middle, 'overlays'))
    const tree = layeredTree([top, middle, bottom])
    assert.is(await tree.size('kernel8.img'), 100, 'the middle layer\'s kernel')
    assert.is(await tree.size('initramfs8'), undefined, 'whited out on top')
    assert.is(await tree.size('overlays/a.dtbo'), undefined, 'its folder whited out in the middle')
    assert.is(await tree.size('fixup4.dat'), 5, 'from the bottom')
    assert.is(await tree.text('config.txt'), 'auto_initramfs=1\n')
    assert.is(await tree.size('x'), undefined, 'a folder is no file')
    assert.is((await bytesPerBoot(tree, '4B')).bytes, 2 * 17 + 5 + 100)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
