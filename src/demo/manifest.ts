/**
 * The demo image's cache key: a manifest of every input the build reads, stored as JSON beside
 * the image. A build is reused only while the stored manifest equals the one computed now; when
 * it doesn't, `manifestChanges` says which inputs changed.
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as content from './content.ts'
import * as trixie from './content-trixie.ts'
import { DEFAULT_RELEASE, type DemoRelease } from './release.ts'
import {
  BOOT_KERNEL_NAMES, BOOT_SIZE_MIB, BOOT_START_SECTOR, DEMO_HOSTNAME, DEMO_LABEL_ID,
  DEMO_USER, FIRMWARE_COMPONENT, FIRMWARE_PACKAGE, demoPackages, initramfsModules, type DemoArch,
} from './spec.ts'

export interface DemoManifest {
  /** sha256 of the builder's own sources (every module of src/demo/): a change to the builder rebuilds. */
  readonly builderDigest: string
  readonly arch: DemoArch
  readonly suite: string
  readonly mirror: string
  readonly variant: 'minbase'
  readonly packages: readonly string[]
  readonly initramfsModules: readonly string[]
  readonly firmware: string
  readonly labelId: string
  readonly bootStartSector: number
  readonly bootSizeMiB: number
  readonly bootKernelNames: readonly { kernel: string; initramfs: string }[]
  readonly hostname: string
  readonly user: { readonly name: string; readonly uid: number; readonly groups: readonly string[]; readonly passwordHash: string }
  /** sha256 of the text files written into the image (config.txt, cmdline.txt, fstab, units…). */
  readonly filesDigest: string
}

/** The manifest of one image; the suite is the release (bookworm's manifest is as it always was). */
export function demoManifest(arch: DemoArch, mirror: string, release: DemoRelease = DEFAULT_RELEASE): DemoManifest {
  return {
    builderDigest: builderDigest(),
    arch,
    suite: release,
    mirror,
    variant: 'minbase',
    packages: demoPackages(arch, release),
    initramfsModules: initramfsModules(arch),
    firmware: `${FIRMWARE_PACKAGE} (${FIRMWARE_COMPONENT})`,
    labelId: DEMO_LABEL_ID,
    bootStartSector: BOOT_START_SECTOR,
    bootSizeMiB: BOOT_SIZE_MIB,
    bootKernelNames: BOOT_KERNEL_NAMES[arch],
    hostname: DEMO_HOSTNAME,
    user: { name: DEMO_USER.name, uid: DEMO_USER.uid, groups: DEMO_USER.groups, passwordHash: DEMO_USER.passwordHash },
    filesDigest: filesDigest(arch, release, mirror),
  }
}

let cachedBuilderDigest: string | undefined

/**
 * sha256 of every module in this folder (src/demo/*.ts in a checkout, dist/demo/*.js installed),
 * by name and content, in name order. Keyed on the sources rather than a hand-bumped version, so an
 * edit to the builder can never be tested against an image it did not make.
 */
export function builderDigest(folder = import.meta.dirname): string {
  if (folder === import.meta.dirname && cachedBuilderDigest) return cachedBuilderDigest
  const hash = createHash('sha256')
  const names = readdirSync(folder).filter((name) => /\.(ts|js)$/.test(name) && !name.endsWith('.d.ts')).sort()
  for (const name of names) {
    const text = readFileSync(join(folder, name))
    hash.update(`${name}:${text.length}:`).update(text)
  }
  const digest = hash.digest('hex')
  if (folder === import.meta.dirname) cachedBuilderDigest = digest
  return digest
}

function filesDigest(arch: DemoArch, release: DemoRelease, mirror: string): string {
  const texts = release === 'bookworm'
    ? [
        content.cmdlineTxt(), content.configTxt(arch), content.issueTxt(arch), content.fstab(), content.hosts(),
        content.DPHYS_SWAPFILE, content.SUDOERS_PI, content.FIRSTBOOT, content.REGENERATE_SSH_HOST_KEYS_SERVICE,
        content.USERCONFIG_SERVICE, content.USERCONF_SERVICE_SCRIPT,
      ]
    : [
        content.cmdlineTxt(), content.configTxt(arch), trixie.issueTxtTrixie(arch), content.fstab(), content.hosts(),
        content.SUDOERS_PI, content.FIRSTBOOT, content.REGENERATE_SSH_HOST_KEYS_SERVICE, content.USERCONFIG_SERVICE,
        content.USERCONF_SERVICE_SCRIPT, trixie.NETPLAN_NM_ALL, trixie.CLOUD_CFG, trixie.ZRAM_CONF,
        trixie.debianSources(mirror, 'keyring'), ...Object.values(trixie.seedFiles()),
      ]
  const hash = createHash('sha256')
  for (const text of texts) hash.update(`${text.length}:${text}`)
  return hash.digest('hex')
}

export function serializeManifest(manifest: DemoManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`
}

/** The stored manifest, or undefined when there is none or it doesn't parse. */
export async function readManifest(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

/** Names of the top-level inputs that differ (empty when the stored manifest still holds). */
export function manifestChanges(stored: unknown, current: DemoManifest): string[] {
  if (typeof stored !== 'object' || stored === null) return ['(no manifest)']
  const old = stored as Record<string, unknown>
  const keys = new Set([...Object.keys(old), ...Object.keys(current)])
  return [...keys].filter((key) => JSON.stringify(old[key]) !== JSON.stringify((current as unknown as Record<string, unknown>)[key]))
}
