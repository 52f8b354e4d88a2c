/**
 * Debian's `raspi-firmware` (bootcode.bin, start*.elf, fixup*.dat) lives in the non-free-firmware
 * component, which the host's apt sources may not list. It is fetched with a private apt tree
 * (its own sources list, lists and cache under the demo's apt cache), never touching the host's apt
 * configuration, kept for the next build, and unpacked with `dpkg-deb -x`: never installed.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import { exec } from '../system/exec.ts'
import { FIRMWARE_COMPONENT, FIRMWARE_PACKAGE, type DemoArch } from './spec.ts'

export interface FirmwareContext {
  readonly arch: DemoArch
  /** The Debian suite to take the package from. */
  readonly suite: string
  readonly mirror: string
  /** Holds the private apt tree and the downloaded package between builds. */
  readonly cacheDir: string
  readonly signal?: AbortSignal | undefined
  readonly onLine: (line: string) => void
}

/** The path of the raspi-firmware .deb, downloaded unless a previous build kept one. */
export async function fetchFirmwareDeb(ctx: FirmwareContext): Promise<string> {
  const aptDir = join(ctx.cacheDir, 'firmware-apt')
  const debDir = join(aptDir, 'debs')
  const cached = await findDeb(debDir)
  if (cached) return cached
  const options = await privateApt(ctx, aptDir)
  const run = (args: string[]) =>
    exec(['apt-get', '-q', ...options, ...args], {
      cwd: debDir,
      signal: ctx.signal,
      onLine: (line) => ctx.onLine(line),
      hint: `${FIRMWARE_PACKAGE} comes from ${ctx.mirror} ${ctx.suite} ${FIRMWARE_COMPONENT}: check that the mirror is reachable`,
    })
  await run(['update'])
  await run(['download', FIRMWARE_PACKAGE])
  const deb = await findDeb(debDir)
  if (!deb) throw new PibakeError(`apt-get download ${FIRMWARE_PACKAGE} left no .deb in ${debDir}`)
  return deb
}

async function privateApt(ctx: FirmwareContext, aptDir: string): Promise<string[]> {
  for (const dir of ['etc/sources.list.d', 'lists/partial', 'cache/archives/partial', 'debs']) {
    await mkdir(join(aptDir, dir), { recursive: true })
  }
  const sourcesList = join(aptDir, 'etc/sources.list')
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg'
  await writeFile(sourcesList, `deb [signed-by=${keyring}] ${ctx.mirror} ${ctx.suite} ${FIRMWARE_COMPONENT}\n`)
  return [
    '-o', `Dir::Etc::SourceList=${sourcesList}`,
    '-o', `Dir::Etc::SourceParts=${join(aptDir, 'etc/sources.list.d')}`,
    '-o', `Dir::State::Lists=${join(aptDir, 'lists')}`,
    '-o', `Dir::Cache=${join(aptDir, 'cache')}`,
    '-o', `APT::Architecture=${ctx.arch}`,
    '-o', `APT::Architectures::=${ctx.arch}`,
    '-o', 'APT::Sandbox::User=root',
  ]
}

async function findDeb(dir: string): Promise<string | undefined> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith(`${FIRMWARE_PACKAGE}_`) && n.endsWith('.deb'))
  const last = names.sort().at(-1)
  return last ? join(dir, last) : undefined
}

export interface Firmware {
  /** Folder holding bootcode.bin, start*.elf and fixup*.dat. */
  readonly dir: string
  /** The package's copyright file: Broadcom's licence for the firmware. */
  readonly licence: string
}

/** Unpacks the package into `dest`. */
export async function extractFirmware(deb: string, dest: string, signal?: AbortSignal): Promise<Firmware> {
  await mkdir(dest, { recursive: true })
  await exec(['dpkg-deb', '-x', deb, dest], { signal })
  const dir = join(dest, 'usr/lib/raspi-firmware')
  const names = await readdir(dir).catch(() => [] as string[])
  if (!names.includes('bootcode.bin') || !names.includes('start4.elf')) {
    throw new PibakeError(`${deb} has no bootcode.bin/start4.elf under usr/lib/raspi-firmware`, 'the package layout changed: update src/demo/firmware.ts')
  }
  return { dir, licence: join(dest, 'usr/share/doc', FIRMWARE_PACKAGE, 'copyright') }
}
