/**
 * The boot partition's files, gathered into a folder before they are copied onto the FAT file
 * system: the Pi firmware, the Raspberry Pi device trees of the installed kernel, the kernel and
 * initramfs under the names the firmware looks for, config.txt and cmdline.txt; on trixie also
 * cloud-init's NoCloud seed (`user-data`, `meta-data`, `network-config`).
 */
import { copyFile, link, mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import { cmdlineTxt, configTxt, issueTxt } from './content.ts'
import { issueTxtTrixie, seedFiles } from './content-trixie.ts'
import type { DemoRelease } from './release.ts'
import { BOOT_KERNEL_NAMES, type DemoArch } from './spec.ts'

export interface BootFilesInput {
  readonly arch: DemoArch
  readonly release: DemoRelease
  /** The staging root, with the kernel installed. */
  readonly staging: string
  readonly kernelVersion: string
  /** Folder with bootcode.bin, start*.elf and fixup*.dat. */
  readonly firmwareDir: string
  /** The firmware's licence (the package's copyright file), shipped as LICENCE.broadcom. */
  readonly firmwareLicence: string
  /** Empty folder that receives the boot files. */
  readonly dest: string
}

const FIRMWARE_FILE = /^(bootcode\.bin|start.*\.elf|fixup.*\.dat)$/

export async function gatherBootFiles(input: BootFilesInput): Promise<void> {
  await mkdir(input.dest, { recursive: true })
  for (const name of (await readdir(input.firmwareDir)).filter((n) => FIRMWARE_FILE.test(n))) {
    await copyKeepingTime(join(input.firmwareDir, name), join(input.dest, name))
  }
  await copyKeepingTime(input.firmwareLicence, join(input.dest, 'LICENCE.broadcom'))
  await copyDeviceTrees(input)
  const kernel = join(input.staging, 'boot', `vmlinuz-${input.kernelVersion}`)
  const initramfs = join(input.staging, 'boot', `initrd.img-${input.kernelVersion}`)
  for (const names of BOOT_KERNEL_NAMES[input.arch]) {
    await link(kernel, join(input.dest, names.kernel))
    await link(initramfs, join(input.dest, names.initramfs))
  }
  await writeFile(join(input.dest, 'config.txt'), configTxt(input.arch))
  await writeFile(join(input.dest, 'cmdline.txt'), cmdlineTxt())
  if (input.release === 'bookworm') {
    await writeFile(join(input.dest, 'issue.txt'), issueTxt(input.arch))
    return
  }
  await writeFile(join(input.dest, 'issue.txt'), issueTxtTrixie(input.arch))
  for (const [name, text] of Object.entries(seedFiles())) await writeFile(join(input.dest, name), text)
}

/**
 * The Pi device trees, `bcm27*.dtb` and the Pi 3's `bcm2837*.dtb` (Debian uses the upstream names),
 * flat on armhf, under broadcom/ on arm64, and any overlays beside them.
 */
async function copyDeviceTrees(input: BootFilesInput): Promise<void> {
  const base = join(input.staging, 'usr/lib', `linux-image-${input.kernelVersion}`)
  let found = 0
  for (const dir of [base, join(base, 'broadcom')]) {
    const names = await readdir(dir).catch(() => [] as string[])
    for (const name of names.filter((n) => /^bcm(27|2837).*\.dtb$/.test(n))) {
      await copyKeepingTime(join(dir, name), join(input.dest, name))
      found++
    }
    const overlays = (await readdir(join(dir, 'overlays')).catch(() => [] as string[])).filter((n) => n.endsWith('.dtbo'))
    if (overlays.length) await mkdir(join(input.dest, 'overlays'), { recursive: true })
    for (const name of overlays) await copyKeepingTime(join(dir, 'overlays', name), join(input.dest, 'overlays', name))
  }
  if (found === 0) {
    throw new PibakeError(`no bcm27*.dtb in ${base} or its broadcom/ folder`, 'the kernel package layout changed: update src/demo/bootfs.ts')
  }
}

/** A copy with the source's modification time, as the package shipped it. */
async function copyKeepingTime(source: string, dest: string): Promise<void> {
  await copyFile(source, dest)
  const { atime, mtime } = await stat(source)
  await utimes(dest, atime, mtime)
}
