/**
 * config.txt read as the Raspberry Pi firmware reads it, for the few settings that decide what it
 * then asks for over TFTP: `kernel=`, `initramfs <name> [followkernel]` / `ramfsfile=`,
 * `auto_initramfs=`, `device_tree=`, `os_prefix=`, `cmdline=`, `arm_64bit=`, `dtoverlay=` and
 * `include <file>`; conditional sections `[all]`, `[none]`, `[pi3]`, `[pi3+]`, `[pi4]`, `[pi400]`,
 * `[cm4]`, `[pi5]`, `[pi500]`, `[cm5]` (any other filter is taken not to match this board).
 * Pure: text in, the requests out.
 */
import type { NetbootModel } from '../recipe/types.ts'
import { FIRMWARE, type FirmwareRequest } from './firmware.ts'

/** The section filters that match each model (a filter is true until the next one; `[all]` resets). */
const FILTERS: Readonly<Record<NetbootModel, readonly string[]>> = {
  '3B': ['pi3'],
  '3B+': ['pi3', 'pi3+'],
  '4B': ['pi4'],
  '400': ['pi4', 'pi400'],
  CM4: ['pi4', 'cm4'],
  '5': ['pi5'],
  '500': ['pi5', 'pi500'],
  CM5: ['pi5', 'cm5'],
}

export interface FirmwareConfig {
  /** `include` files named by the text read so far, not given in `included`: fetch them and read again. */
  readonly includes: readonly string[]
  /** Kernel names to try in turn (the Pi 5 tries kernel_2712.img, then kernel8.img). */
  readonly kernels: readonly string[]
  /** The initramfs, and whether its absence is fine (`auto_initramfs`) or fatal (`initramfs` named). */
  readonly initramfs: { readonly name: string; readonly optional: boolean } | 'from-kernel' | undefined
  readonly deviceTree: string
  /** A Pi 3's firmware boots on without its device tree (Debian ships upstream bcm2837 names); a Pi 4/5's does not. */
  readonly deviceTreeOptional: boolean
  readonly overlays: readonly string[]
  readonly cmdline: string
  readonly osPrefix: string
}

/**
 * Reads `text` (config.txt) for `model`; `included` holds the text of files it includes, by name.
 * Settings: the last one that applies wins, as in the firmware.
 */
export function readConfigTxt(text: string, model: NetbootModel, included: ReadonlyMap<string, string> = new Map()): FirmwareConfig {
  const settings = new Map<string, string>()
  const overlays: string[] = []
  const includes: string[] = []
  let initramfs: { name: string; optional: boolean } | undefined
  const read = (body: string, depth: number): void => {
    let active = true
    for (const raw of body.split(/\r?\n/)) {
      const line = raw.replace(/#.*/, '').trim()
      if (!line) continue
      const section = /^\[([^\]]*)\]$/.exec(line)
      if (section) {
        active = sectionApplies(section[1]!.trim().toLowerCase(), model)
        continue
      }
      if (!active) continue
      const include = /^include\s+(\S+)$/.exec(line)
      if (include) {
        const file = include[1]!
        const inner = included.get(file)
        if (inner === undefined) includes.push(file)
        else if (depth < 4) read(inner, depth + 1)
        continue
      }
      const ramfs = /^initramfs\s+(\S+)(?:\s+\S+)?$/.exec(line)
      if (ramfs) {
        initramfs = { name: ramfs[1]!, optional: false }
        continue
      }
      const eq = line.indexOf('=')
      if (eq < 0) continue
      const key = line.slice(0, eq).trim().toLowerCase()
      const value = line.slice(eq + 1).trim()
      if (key === 'dtoverlay') {
        const name = value.split(',')[0]!.trim()
        if (name) overlays.push(name)
      } else if (key === 'ramfsfile') {
        initramfs = { name: value.split(',')[0]!, optional: false }
      } else {
        settings.set(key, value)
      }
    }
  }
  read(text, 0)
  const firmware = FIRMWARE[model]
  const kernel = settings.get('kernel')
  const kernels = kernel ? [kernel] : defaultKernels(model, settings.get('arm_64bit'))
  const auto = settings.get('auto_initramfs') === '1'
  return {
    includes,
    kernels,
    initramfs: initramfs ?? (auto ? 'from-kernel' : undefined),
    deviceTree: settings.get('device_tree') || firmware.deviceTree,
    deviceTreeOptional: firmware.family === 'pi3',
    overlays,
    cmdline: settings.get('cmdline') || 'cmdline.txt',
    osPrefix: settings.get('os_prefix') ?? '',
  }
}

/** `auto_initramfs`: the initramfs named after the kernel (kernel8.img → initramfs8, kernel_2712.img → initramfs_2712). */
export function initramfsFor(kernel: string): string {
  return kernel.replace(/^kernel/, 'initramfs').replace(/\.img$/, '')
}

/**
 * What the GPU firmware (Pi 3, 4) or the bootloader (Pi 5) asks for once config.txt is read: the
 * device tree, overlays, the command line, then the kernel and initramfs. Kernel candidates and an
 * initramfs that follows the kernel are resolved by the caller, who knows which kernel was found.
 */
export function requestsAfterConfig(config: FirmwareConfig): FirmwareRequest[] {
  const prefix = config.osPrefix
  return [
    { name: `${prefix}${config.deviceTree}`, optional: config.deviceTreeOptional },
    { name: `${prefix}overlays/overlay_map.dtb`, optional: true },
    ...config.overlays.map((name) => ({ name: `${prefix}overlays/${name}.dtbo`, optional: true })),
    { name: `${prefix}${config.cmdline}`, optional: false },
  ]
}

function sectionApplies(filter: string, model: NetbootModel): boolean {
  if (filter === 'all') return true
  if (filter === 'none') return false
  return FILTERS[model].includes(filter)
}

function defaultKernels(model: NetbootModel, arm64: string | undefined): string[] {
  switch (FIRMWARE[model].family) {
    case 'pi5': return ['kernel_2712.img', 'kernel8.img']
    case 'pi4': return arm64 === '0' ? ['kernel7l.img'] : ['kernel8.img', 'kernel7l.img']
    case 'pi3': return arm64 === '1' ? ['kernel8.img'] : ['kernel7.img']
  }
}
