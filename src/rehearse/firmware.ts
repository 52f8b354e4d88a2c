/**
 * What each Raspberry Pi model's boot firmware does on the network, as data: the one place the
 * simulator, `pibake discover` (through `pi-models.ts`) and the TFTP layout (`netboot/layout.ts`)
 * read it from. Sources: the Raspberry Pi bootloader documentation (EEPROM settings `DHCP_TIMEOUT`,
 * `DHCP_REQ_TIMEOUT`, `TFTP_FILE_TIMEOUT`, `TFTP_PREFIX`), DESIGN.md's per-model table, and TFTP
 * server logs of real boots (a 3B+ asks `bootcode.bin`, `bootsig.bin`, then `<serial>/start.elf`,
 * `autoboot.txt`, `config.txt`, `recovery.elf`…). What no public source states byte for byte (the
 * per-packet retransmit interval, the block size a ROM asks for, whether a Pi 3/4 retries a file
 * that timed out) is marked "assumed" where it is set.
 */
import type { NetbootModel } from '../recipe/types.ts'

/** The three boot-firmware families: they fetch different files. */
export type BootFamily = 'pi3' | 'pi4' | 'pi5'

/** Option 60 of every netbooting Pi's DHCP requests. */
export const PI_VENDOR_CLASS = 'PXEClient:Arch:00000:UNDI:002001'
/** The PXE menu text the boot ROM looks for in option 43. */
export const PXE_MENU_TEXT = 'Raspberry Pi Boot'
/** The Pi 3B boot ROM compares the menu text with its three trailing spaces. */
export const PXE_MENU_TEXT_3B = 'Raspberry Pi Boot   '

export interface DhcpBehaviour {
  /** DISCOVERs sent before giving up (Pi 4/5: as many as fit in `overallMs`). */
  readonly tries: number
  /** Milliseconds between two DISCOVERs (Pi 4/5: `DHCP_REQ_TIMEOUT`, default 4 s). */
  readonly retryMs: number
  /** Milliseconds the whole DHCP phase may take (Pi 4/5: `DHCP_TIMEOUT`, default 45 s). */
  readonly overallMs: number
  /** Sends option 97 (client machine id: magic, board revision, MAC, serial). */
  readonly option97: boolean
  /** Uses the offered address at once and goes on to TFTP without waiting for the ACK (the 3B ROM). */
  readonly offerIsEnough: boolean
}

export interface TftpBehaviour {
  /** Milliseconds one file may take from its request to its last block (`TFTP_FILE_TIMEOUT`, 30 s). */
  readonly fileTimeoutMs: number
  /** Whether a file that timed out is asked for once more (a Pi 5 does not). */
  readonly retryTimedOutFile: boolean
  /** Milliseconds before a request or acknowledgement is sent again (assumed: 1 s). */
  readonly retransmitMs: number
  /** The `blksize` option asked for (assumed: 1468, the most a 1500-byte MTU carries, for the EEPROMs, whose 2022-11 release "increased TFTP_MAX_BLOCK_SIZE"; none — 512 — for the 3B's ROM). */
  readonly blksize: number | undefined
}

/**
 * What a node does after a failed network boot (no usable lease within the DHCP phase, or a file
 * not had within its TFTP_FILE_TIMEOUT, asked again where the model does).
 *
 * Pi 4/5 (the EEPROM bootloader): `restart`. The configurations users set for netboot end
 * BOOT_ORDER with 0xf, RESTART (raspi-config's "Network boot" writes 0xf21; the bootloader
 * documentation's examples 0xf21, 0xf41, 0xf14), and MAX_RESTARTS defaults to -1, forever: the
 * network boot fails, the other modes of BOOT_ORDER are tried, and the loop comes back to the
 * network, DHCP first. NET_BOOT_MAX_RETRIES (default 0) retries the network boot before moving
 * on, 5 s apart ("if TFTP fails and network boot retries > 0 then wait 5 seconds before retrying",
 * rpi-eeprom release notes, 2020-05-28). What the rest of BOOT_ORDER costs is `restartMs`,
 * assumed 5 s: an absent SD card fails at once, then the error pattern the bootloader shows after
 * each failed mode ("it will retry every few seconds", rpi-eeprom#140), the PHY reset and the link
 * coming up again. A Pi 5 whose TFTP file timed out was reported not to restart (rpi-eeprom#687,
 * 2025, closed since): the simulator assumes a current bootloader; `afterFailure: 'stop'` models
 * one that hangs.
 *
 * Pi 3B/3B+ (the boot ROM, then bootcode.bin from the server): `stop`. The boot documentation
 * (bootmodes/bootflow.md, net.md) says nothing of what follows a failed network boot; the
 * record that exists says it does not try again: a 3B whose DHCP went unanswered falls back to
 * USB device mode and waits (raspberrypi/firmware#825), a 3B+ powered on with 47 others sent 4
 * requests and then nothing ("the bootcode is broken in this situation", firmware#1081), and
 * bootcode.bin's own DHCP went quiet after about a minute (firmware#1124). The conservative model:
 * a Pi 3 gets one attempt, and stays down until it is power-cycled.
 */
export interface BootLoop {
  readonly afterFailure: 'restart' | 'stop'
  /** NET_BOOT_MAX_RETRIES: network boot tried again this many times before the rest of BOOT_ORDER (-1: forever). */
  readonly netRetries: number
  /** Milliseconds before a network retry (the bootloader's 5 s). */
  readonly retryDelayMs: number
  /** Milliseconds the rest of BOOT_ORDER takes before RESTART brings the network boot round again (assumed 5 s). */
  readonly restartMs: number
}

/** What the EEPROM's settings may change in a rehearsal: the loop of Pi 4/5 nodes (a Pi 3's ROM has no settings). */
export type BootLoopSettings = Partial<BootLoop>

const EEPROM_LOOP: BootLoop = { afterFailure: 'restart', netRetries: 0, retryDelayMs: 5000, restartMs: 5000 }
const ROM_LOOP: BootLoop = { afterFailure: 'stop', netRetries: 0, retryDelayMs: 0, restartMs: 0 }

/** Each family's loop after a failed network boot, the EEPROM's settings applied to a Pi 4/5. */
export function bootLoopOf(family: BootFamily, settings: BootLoopSettings = {}): BootLoop {
  return family === 'pi3' ? ROM_LOOP : { ...EEPROM_LOOP, ...settings }
}

export interface FirmwareModel {
  readonly model: NetbootModel
  readonly family: BootFamily
  readonly pxeMenuText: string
  readonly dhcp: DhcpBehaviour
  readonly tftp: TftpBehaviour
  /** The board revision code option 97 carries (Pi 4/5), the device tree the firmware asks for. */
  readonly revision: number
  readonly deviceTree: string
}

const PI3_DHCP: DhcpBehaviour = { tries: 5, retryMs: 5000, overallMs: 25_000, option97: false, offerIsEnough: false }
const EEPROM_DHCP: DhcpBehaviour = { tries: Math.floor(45_000 / 4000), retryMs: 4000, overallMs: 45_000, option97: true, offerIsEnough: false }
const ROM_TFTP: TftpBehaviour = { fileTimeoutMs: 30_000, retryTimedOutFile: true, retransmitMs: 1000, blksize: undefined }
const EEPROM_TFTP: TftpBehaviour = { fileTimeoutMs: 30_000, retryTimedOutFile: true, retransmitMs: 1000, blksize: 1468 }

/** Every netbooting model's firmware, by model name. */
export const FIRMWARE: Readonly<Record<NetbootModel, FirmwareModel>> = {
  '3B': { model: '3B', family: 'pi3', pxeMenuText: PXE_MENU_TEXT_3B, dhcp: { ...PI3_DHCP, offerIsEnough: true }, tftp: ROM_TFTP, revision: 0xa02082, deviceTree: 'bcm2710-rpi-3-b.dtb' },
  '3B+': { model: '3B+', family: 'pi3', pxeMenuText: PXE_MENU_TEXT, dhcp: PI3_DHCP, tftp: ROM_TFTP, revision: 0xa020d3, deviceTree: 'bcm2710-rpi-3-b-plus.dtb' },
  '4B': { model: '4B', family: 'pi4', pxeMenuText: PXE_MENU_TEXT, dhcp: EEPROM_DHCP, tftp: EEPROM_TFTP, revision: 0xc03114, deviceTree: 'bcm2711-rpi-4-b.dtb' },
  '400': { model: '400', family: 'pi4', pxeMenuText: PXE_MENU_TEXT, dhcp: EEPROM_DHCP, tftp: EEPROM_TFTP, revision: 0xc03130, deviceTree: 'bcm2711-rpi-400.dtb' },
  CM4: { model: 'CM4', family: 'pi4', pxeMenuText: PXE_MENU_TEXT, dhcp: EEPROM_DHCP, tftp: EEPROM_TFTP, revision: 0xa03141, deviceTree: 'bcm2711-rpi-cm4.dtb' },
  '5': { model: '5', family: 'pi5', pxeMenuText: PXE_MENU_TEXT, dhcp: EEPROM_DHCP, tftp: { ...EEPROM_TFTP, retryTimedOutFile: false }, revision: 0xd04170, deviceTree: 'bcm2712-rpi-5-b.dtb' },
  '500': { model: '500', family: 'pi5', pxeMenuText: PXE_MENU_TEXT, dhcp: EEPROM_DHCP, tftp: { ...EEPROM_TFTP, retryTimedOutFile: false }, revision: 0xd03190, deviceTree: 'bcm2712-rpi-500.dtb' },
  CM5: { model: 'CM5', family: 'pi5', pxeMenuText: PXE_MENU_TEXT, dhcp: EEPROM_DHCP, tftp: { ...EEPROM_TFTP, retryTimedOutFile: false }, revision: 0xb04180, deviceTree: 'bcm2712-rpi-cm5-cm5io.dtb' },
}

/** One file a node's firmware fetches; any one of `anyOf` satisfies it (names may hold one `*`). */
export interface BootFile {
  readonly anyOf: readonly string[]
  /** What the file is, for messages. */
  readonly what: string
  /** `root`: fetched without the serial prefix (3B's bootcode.bin); `prefix`: `<serial>/name`, then the root. */
  readonly where: 'root' | 'prefix'
}

/** The files without which a model's firmware cannot boot, in the order it asks for them. */
export const REQUIRED_FILES: Readonly<Record<BootFamily, readonly BootFile[]>> = {
  pi3: [
    { anyOf: ['bootcode.bin'], what: 'second-stage loader', where: 'root' },
    { anyOf: ['start.elf'], what: 'GPU firmware', where: 'prefix' },
    { anyOf: ['fixup.dat'], what: 'GPU memory split', where: 'prefix' },
    { anyOf: ['config.txt'], what: 'firmware config', where: 'prefix' },
    { anyOf: ['bcm2710*.dtb', 'bcm2837*.dtb'], what: 'device tree', where: 'prefix' },
    { anyOf: ['kernel8.img', 'kernel7.img'], what: 'kernel', where: 'prefix' },
    { anyOf: ['initramfs8', 'initramfs7'], what: 'initramfs', where: 'prefix' },
    { anyOf: ['cmdline.txt'], what: 'kernel command line', where: 'prefix' },
  ],
  pi4: [
    { anyOf: ['start4.elf'], what: 'GPU firmware', where: 'prefix' },
    { anyOf: ['fixup4.dat'], what: 'GPU memory split', where: 'prefix' },
    { anyOf: ['config.txt'], what: 'firmware config', where: 'prefix' },
    { anyOf: ['bcm2711*.dtb'], what: 'device tree', where: 'prefix' },
    { anyOf: ['kernel8.img', 'kernel7l.img'], what: 'kernel', where: 'prefix' },
    { anyOf: ['initramfs8', 'initramfs7l'], what: 'initramfs', where: 'prefix' },
    { anyOf: ['cmdline.txt'], what: 'kernel command line', where: 'prefix' },
  ],
  pi5: [
    { anyOf: ['config.txt'], what: 'firmware config', where: 'prefix' },
    { anyOf: ['bcm2712*.dtb'], what: 'device tree', where: 'prefix' },
    { anyOf: ['kernel_2712.img', 'kernel8.img'], what: 'kernel', where: 'prefix' },
    { anyOf: ['initramfs_2712', 'initramfs8'], what: 'initramfs', where: 'prefix' },
    { anyOf: ['cmdline.txt'], what: 'kernel command line', where: 'prefix' },
  ],
}

/** The file whose presence under `<serial>/` makes the firmware keep the serial prefix. */
export const PREFIX_PROBE: Readonly<Record<BootFamily, string>> = { pi3: 'start.elf', pi4: 'start4.elf', pi5: 'config.txt' }

/**
 * One TFTP request of the boot, before config.txt is read: `optional` files may be missing (the
 * firmware asks, is told "not found" and goes on).
 */
export interface FirmwareRequest {
  readonly name: string
  readonly optional: boolean
  /** Asked at the TFTP root whatever the prefix (the 3B's ROM asking for `bootcode.bin`). */
  readonly root?: boolean
}

/** What the boot ROM / EEPROM and the GPU firmware ask for before the device tree, in order. */
export const FIRST_REQUESTS: Readonly<Record<BootFamily, readonly FirmwareRequest[]>> = {
  pi3: [
    { name: 'bootcode.bin', optional: false, root: true },
    { name: 'bootsig.bin', optional: true, root: true },
    { name: 'autoboot.txt', optional: true },
    { name: 'config.txt', optional: false },
    { name: 'recovery.elf', optional: true },
    { name: 'start.elf', optional: false },
    { name: 'fixup.dat', optional: false },
    { name: 'config.txt', optional: false },
    { name: 'dt-blob.bin', optional: true },
    { name: 'bootcfg.txt', optional: true },
  ],
  pi4: [
    { name: 'config.txt', optional: false },
    { name: 'pieeprom.sig', optional: true },
    { name: 'recover4.elf', optional: true },
    { name: 'recovery.elf', optional: true },
    { name: 'start4.elf', optional: false },
    { name: 'fixup4.dat', optional: false },
    { name: 'config.txt', optional: false },
    { name: 'dt-blob.bin', optional: true },
  ],
  pi5: [
    { name: 'config.txt', optional: false },
    { name: 'pieeprom.sig', optional: true },
  ],
}

/** The firmware of a model the recipe lists (netbooting models only: the recipe refuses the others). */
export function firmwareOf(model: NetbootModel): FirmwareModel {
  return FIRMWARE[model]
}
