/**
 * The TFTP tree each Raspberry Pi model expects, as pure functions: which directories must exist for
 * a node, which files its boot firmware fetches (so publishing can check a node's tree is complete),
 * and which PXE menu string its boot ROM answers to. Facts from DESIGN.md's per-model table.
 */
import { PibakeError } from '../errors.ts'
import { NETBOOT_MODELS, type NetbootModel, type Node } from '../recipe/types.ts'
import { FIRMWARE, PXE_MENU_TEXT, PXE_MENU_TEXT_3B, REQUIRED_FILES, type BootFamily, type BootFile } from '../rehearse/firmware.ts'

/** How nodes find their files: one directory per MAC (dnsmasq `tftp-unique-root=mac`) or per serial. */
export type TftpLayout = 'mac' | 'serial'

// The firmware's behaviour per model is data in one place (src/rehearse/firmware.ts), shared with the
// storm simulator and discovery.
export { PXE_MENU_TEXT, PXE_MENU_TEXT_3B, type BootFamily, type BootFile }

/**
 * Names at the top of the boot files that a model's firmware fetches over TFTP (DESIGN.md's
 * per-model table, REQUIRED_FILES in rehearse/firmware.ts): the first stages, GPU firmware, config.txt, cmdline.txt, the
 * kernels and initramfs images, device trees, the `overlays/` folder, an ARM stub. The boot partition
 * may hold more (`issue.txt`, `LICENCE.broadcom`, and the Imager's `firstrun.sh`, `userconf.txt`,
 * `custom.toml`, `wpa_supplicant.conf`, with password hashes and Wi-Fi keys): TFTP would serve
 * those to any host on the LAN and no firmware asks for them.
 */
const FIRMWARE_NAMES: readonly RegExp[] = [
  /^bootcode\.bin$/,
  /^bootsig\.bin$/,
  /^start\w*\.elf$/,
  /^fixup\w*\.dat$/,
  /^config\.txt$/,
  /^cmdline\.txt$/,
  /^kernel[\w.-]*\.img$/,
  /^initramfs[\w.-]*$/,
  /^[\w.,+-]+\.dtb$/,
  /^overlays$/,
  /^armstub[\w.-]*\.bin$/,
]

/** The firmware names, for a cache key. */
export const FIRMWARE_PATTERNS: readonly string[] = FIRMWARE_NAMES.map(String)

/**
 * Whether a name at the top of the boot files is one the firmware fetches: one of FIRMWARE_NAMES, or
 * a file or folder `config` names (`kernel=`, `initramfs`, `include`, `device_tree=`, `os_prefix=`…;
 * `config` is config.txt with the files it includes and every node's extra lines).
 */
export function isFirmwareName(name: string, config: string): boolean {
  if (FIRMWARE_NAMES.some((pattern) => pattern.test(name))) return true
  return configWords(config).some((word) => word === name || word.startsWith(`${name}/`))
}

/** The words of config.txt values: `kernel=foo.img` → foo.img, `initramfs bar followkernel` → bar. */
export function configWords(config: string): string[] {
  return config
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .flatMap((line) => line.split(/[\s=,]+/))
    .filter(Boolean)
}

/** `dc:a6:32:01:02:03` (or dashes, any case) → `dc-a6-32-01-02-03`, the directory dnsmasq looks for. */
export function macDir(mac: string): string {
  const parts = mac.trim().toLowerCase().split(/[:-]/)
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-f]{2}$/.test(p))) {
    throw new PibakeError(`"${mac}" is not a MAC address`, 'write it as six hex pairs, e.g. dc:a6:32:01:02:03')
  }
  return parts.join('-')
}

/** The serial prefix directory the bootloader asks for: the low 8 hex digits, lower case (`%08x`). */
export function serialDir(serial: string): string {
  const hex = serial.trim().toLowerCase().replace(/^0x/, '')
  if (!/^[0-9a-f]+$/.test(hex)) {
    throw new PibakeError(`"${serial}" is not a board serial number`, 'use the hex digits from /proc/cpuinfo "Serial"')
  }
  return hex.slice(-8).padStart(8, '0')
}

/** Which firmware family a model belongs to; models that cannot netboot are refused with the reason. */
export function bootFamily(model: string): BootFamily {
  if (!(NETBOOT_MODELS as readonly string[]).includes(model)) {
    throw new PibakeError(
      `the Raspberry Pi ${model} cannot boot from the network (its boot ROM has no Ethernet boot)`,
      `netbooting models are ${NETBOOT_MODELS.join(', ')}`,
    )
  }
  return FIRMWARE[model as NetbootModel].family
}

/**
 * The directories under the TFTP root that must exist for a node: its MAC directory always (dnsmasq
 * `tftp-unique-root=mac`), and with `serial: true` its serial prefix directory for TFTP servers that
 * cannot tell clients apart by MAC.
 */
export function tftpDirs(node: Node, options: { serial?: boolean } = {}): string[] {
  const dirs = [macDir(node.mac)]
  if (options.serial) {
    if (!node.serial) throw new PibakeError(`node ${node.hostname} has no serial`, 'add `serial` to the node, or use the MAC layout')
    dirs.push(serialDir(node.serial))
  }
  return dirs
}

/** Names that replace the firmware's default kernel and initramfs names when `config.txt` sets them. */
export interface BootNames {
  readonly kernel?: string
  readonly initramfs?: string
}

/** The files a model's firmware fetches over TFTP, in the order it asks for them. */
export function bootFiles(model: string, names: BootNames = {}): readonly BootFile[] {
  return REQUIRED_FILES[bootFamily(model)].map((file) => {
    if (file.what === 'kernel' && names.kernel) return { ...file, anyOf: [names.kernel] }
    if (file.what === 'initramfs' && names.initramfs) return { ...file, anyOf: [names.initramfs] }
    return file
  })
}

/**
 * What a node's tree lacks: `listing` holds paths relative to the TFTP root (`dc-a6-32-01-02-03/start4.elf`).
 * With the MAC layout everything lives in the MAC directory (the root the node sees); with the serial
 * layout prefixed files live in the serial directory and `bootcode.bin` at the TFTP root.
 */
export function missingBootFiles(node: Node, listing: Iterable<string>, options: { layout?: TftpLayout } & BootNames = {}): string[] {
  const layout = options.layout ?? 'mac'
  const present = new Set(listing)
  const mac = macDir(node.mac)
  const serial = layout === 'serial' ? (tftpDirs(node, { serial: true }).at(-1) ?? '') : ''
  const missing: string[] = []
  for (const file of bootFiles(node.model, options)) {
    const dir = layout === 'mac' ? mac : file.where === 'prefix' ? serial : ''
    const paths = file.anyOf.map((name) => (dir ? `${dir}/${name}` : name))
    if (!paths.some((path) => (path.includes('*') ? [...present].some((p) => globMatch(path, p)) : present.has(path)))) {
      missing.push(`${paths.join(' or ')} (${file.what})`)
    }
  }
  return missing
}

/**
 * Whether the firmware uses its serial prefix directory, given the names in it: Pi 3 and 4 keep the
 * prefix when their first file (`start.elf`, `start4.elf`) is there; Pi 5 only when it holds
 * `config.txt` and a device tree.
 */
export function usesPrefix(model: string, prefixListing: Iterable<string>): boolean {
  const names = [...prefixListing]
  switch (bootFamily(model)) {
    case 'pi3': return names.includes('start.elf')
    case 'pi4': return names.includes('start4.elf')
    case 'pi5': return names.includes('config.txt') && names.some((n) => n.endsWith('.dtb'))
  }
}

/** The PXE menu text this model's boot ROM answers to. */
export function pxeMenuText(model: NetbootModel): string {
  return FIRMWARE[model].pxeMenuText
}

/** Whether the fleet holds a Pi 3B, whose boot ROM needs the menu text with three trailing spaces. */
export function needsThreeSpacePxe(nodes: readonly Pick<Node, 'model'>[]): boolean {
  return nodes.some((node) => node.model === '3B')
}

function globMatch(pattern: string, path: string): boolean {
  const star = pattern.indexOf('*')
  if (star < 0) return pattern === path
  const head = pattern.slice(0, star)
  const tail = pattern.slice(star + 1)
  const middle = path.slice(head.length, path.length - tail.length)
  return path.length >= head.length + tail.length && path.startsWith(head) && path.endsWith(tail) && !middle.includes('/')
}
