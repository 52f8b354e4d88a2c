/**
 * The demo image: a disk image laid out like Raspberry Pi OS Bookworm (or trixie, with `release`),
 * built from Debian packages only. It is pibake's built-in default input and the test suite's fixture.
 *
 *   debootstrap ─▶ Raspberry Pi OS look ─▶ awkward entries ─▶ boot files ─▶ disk image ─▶ xz + sha256
 *
 * Built once per architecture and reused while its manifest (every input, see manifest.ts) is
 * unchanged. Everything is made in a hidden work folder and renamed into place at the end, the
 * manifest last, so an interrupted build never leaves an image that looks finished.
 */
import { mkdir, mkdtemp, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { InterruptedError, PibakeError } from '../errors.ts'
import { resolvePath } from '../system/paths.ts'
import { writeDurable } from '../system/durable.ts'
import { gatherBootFiles } from './bootfs.ts'
import { addAwkwardEntries, makeRaspiosLike } from './customize.ts'
import { finishInstall, kernelVersion, missingModules, runDebootstrap, seedRoot, unmountLeftovers, type RootContext } from './debootstrap.ts'
import { compressImage, planLayout, sha256File, treeBytes, writeImage } from './disk.ts'
import { extractFirmware, fetchFirmwareDeb } from './firmware.ts'
import { demoManifest, manifestChanges, readManifest, serializeManifest, type DemoManifest } from './manifest.ts'
import { STALE_MS, acquireBuildLock, ageMs, keepFresh } from './lock.ts'
import { findDebianMirror } from './mirror.ts'
import { checkDemoHost } from './preflight.ts'
import { DEFAULT_RELEASE, checkRelease, demoStem, type DemoRelease } from './release.ts'
import { DEMO_SUITE, REQUIRED_MODULES, initramfsModules, type DemoArch } from './spec.ts'

export { DEMO_LABEL_ID, demoPartUuid } from './spec.ts'
export { DEMO_RELEASES, type DemoRelease } from './release.ts'
export { AWKWARD_DIR, CAPABILITY_FILE, ETC_LINK } from './customize.ts'

export interface DemoImageOptions {
  arch: DemoArch
  /** Which Raspberry Pi OS release to imitate (default bookworm). */
  release?: DemoRelease
  /** Folder for the image, its manifest and the package caches (`apt-cache-<stem>/`). */
  outDir: string
  signal?: AbortSignal
  /** Progress: the build's own steps and every line its commands print. */
  onLine?: (line: string) => void
  /** Rebuild even when the stored manifest still matches (the package caches are kept). */
  force?: boolean
  /** Debian mirror; default: the one this host's apt sources use for bookworm main. */
  mirror?: string
}

export interface DemoImage {
  arch: DemoArch
  release: DemoRelease
  img: string
  xz: string
  /** sha256 of the `.img.xz`, as in the `.sha256` file. */
  sha256: string
  sha256File: string
  cached: boolean
}

export interface DemoImagePaths {
  readonly img: string
  readonly xz: string
  readonly sha256File: string
  readonly manifest: string
  readonly lock: string
  readonly cacheDir: string
  /** Each build works in its own `<workPrefix>XXXXXX` folder, kept fresh while it runs. */
  readonly workPrefix: string
}

/** Bookworm's files are `raspios-demo-<arch>.*`, trixie's `raspios-demo-trixie-<arch>.*`: both live in one folder. */
export function demoImagePaths(outDir: string, arch: DemoArch, release: DemoRelease = DEFAULT_RELEASE): DemoImagePaths {
  // Resolved: the image's loop devices and mounts are named by real paths.
  const dir = resolvePath(outDir)
  const stem = demoStem(release, arch)
  const img = join(dir, `${stem}.img`)
  return {
    img,
    xz: `${img}.xz`,
    sha256File: `${img}.xz.sha256`,
    manifest: join(dir, `${stem}.manifest.json`),
    lock: join(dir, `${stem}.lock`),
    cacheDir: join(dir, `apt-cache-${stem.replace(/^raspios-demo-/, '')}`),
    workPrefix: join(dir, `.${stem}.work-`),
  }
}

export async function buildDemoImage(options: DemoImageOptions): Promise<DemoImage> {
  const arch = checkArch(options.arch)
  const release = checkRelease(options.release ?? DEFAULT_RELEASE)
  const paths = demoImagePaths(options.outDir, arch, release)
  const onLine = options.onLine ?? (() => {})
  // Every release is on the mirror this host's apt uses for bookworm.
  const mirror = options.mirror ?? (await findDebianMirror(DEMO_SUITE))
  const manifest = demoManifest(arch, mirror, release)
  await mkdir(dirname(paths.manifest), { recursive: true })
  // try/finally rather than `await using`: Node 22.18, which pibake supports, has no using declarations.
  const lock = await acquireBuildLock(paths.lock, (owner) => onLine(`demo image ${arch}: waiting for the build in process ${owner}`), options.signal)
  try {
    const changes = manifestChanges(await readManifest(paths.manifest), manifest)
    if (!options.force && changes.length === 0) {
      const cached = await cachedImage(paths, arch, release)
      if (cached) return cached
      onLine(`demo image ${arch}: files missing beside the manifest, rebuilding`)
    } else {
      onLine(`demo image ${arch}: ${options.force ? 'forced rebuild' : `building (changed: ${changes.join(', ')})`}`)
    }
    await checkDemoHost(arch)
    return await build(paths, manifest, { signal: options.signal, onLine }).catch((error: unknown) => {
      // Stopped by a signal (the command line's Ctrl-C or SIGTERM): say that, not how the program
      // it stopped ended. A caller's own abort keeps the error that says what was cancelled.
      throw options.signal?.reason instanceof InterruptedError ? options.signal.reason : error
    })
  } finally {
    await lock[Symbol.asyncDispose]()
  }
}

/** For `pibake demo-image [--arch arm64|armhf] [--release bookworm|trixie] [--force]`. */
export async function demoImageCommand(
  args: { arch: DemoArch; release?: DemoRelease; outDir: string; force?: boolean },
  onLine?: (line: string) => void,
): Promise<DemoImage> {
  return buildDemoImage({ ...args, ...(onLine ? { onLine } : {}) })
}

function checkArch(arch: string): DemoArch {
  if (arch === 'arm64' || arch === 'armhf') return arch
  throw new PibakeError(`unknown demo image architecture "${arch}"`, 'use arm64 or armhf')
}

async function cachedImage(paths: DemoImagePaths, arch: DemoArch, release: DemoRelease): Promise<DemoImage | undefined> {
  const present = await Promise.all([paths.img, paths.xz].map((p) => stat(p).then((s) => s.size > 0, () => false)))
  const line = await readFile(paths.sha256File, 'utf8').catch(() => '')
  const sha256 = /^([0-9a-f]{64}) /.exec(line)?.[1]
  if (!present.every(Boolean) || !sha256) return undefined
  return { arch, release, img: paths.img, xz: paths.xz, sha256, sha256File: paths.sha256File, cached: true }
}

interface Run {
  readonly signal?: AbortSignal | undefined
  readonly onLine: (line: string) => void
}

async function build(paths: DemoImagePaths, manifest: DemoManifest, run: Run): Promise<DemoImage> {
  await rm(paths.manifest, { force: true })
  await removeStaleWorkDirs(paths.workPrefix, run)
  await mkdir(paths.cacheDir, { recursive: true })
  const work = await mkdtemp(paths.workPrefix)
  const beat = keepFresh(work)
  try {
    return await makeImage(paths, work, manifest, run)
  } finally {
    clearInterval(beat)
    // Reported, not thrown: it must not hide the build's own error, nor fail a finished image.
    await removeWorkDir(work, run).catch((error: unknown) => run.onLine(`demo image: could not remove ${work}: ${String(error)}`))
  }
}

/** Work folders of builds that died (not kept fresh for a while); a live build's is left alone. */
async function removeStaleWorkDirs(prefix: string, run: Run): Promise<void> {
  const names = await readdir(dirname(prefix)).catch(() => [] as string[])
  for (const name of names.filter((n) => n.startsWith(basename(prefix)))) {
    const dir = join(dirname(prefix), name)
    if (((await ageMs(dir)) ?? 0) > STALE_MS) await removeWorkDir(dir, run)
  }
}

/** Removes a work folder, after unmounting anything a killed build or debootstrap left in it. */
async function removeWorkDir(work: string, run: Run): Promise<void> {
  await unmountLeftovers(work, run.onLine)
  await rm(work, { recursive: true, force: true })
}

async function makeImage(paths: DemoImagePaths, work: string, manifest: DemoManifest, run: Run): Promise<DemoImage> {
  const { arch } = manifest
  const release = checkRelease(manifest.suite)
  const step = stepper(`${release === DEFAULT_RELEASE ? '' : `${release} `}${arch}`, run)
  const staging = join(work, 'root')
  const root: RootContext = { arch, release, staging, cacheDir: paths.cacheDir, mirror: manifest.mirror, signal: run.signal, onLine: run.onLine }
  await step('debootstrap with kernel', async () => {
    await seedRoot(root)
    await runDebootstrap(root)
    await finishInstall(root)
  })
  const version = await kernelVersion(staging)
  await reportModules(staging, version, arch, run)
  await step('Raspberry Pi OS look', () => makeRaspiosLike(root))
  await step('awkward entries', () => addAwkwardEntries(root))
  const bootDir = join(work, 'boot')
  await step('boot files', async () => {
    const deb = await fetchFirmwareDeb({ arch, suite: release, mirror: manifest.mirror, cacheDir: paths.cacheDir, signal: run.signal, onLine: run.onLine })
    const firmware = await extractFirmware(deb, join(work, 'firmware'), run.signal)
    await gatherBootFiles({ arch, release, staging, kernelVersion: version, firmwareDir: firmware.dir, firmwareLicence: firmware.licence, dest: bootDir })
  })
  const img = join(work, basename(paths.img))
  await step('disk image', async () => {
    const layout = planLayout(await treeBytes(staging, run.signal))
    await writeImage({ img, layout, bootDir, rootDir: staging, signal: run.signal, onLine: run.onLine })
  })
  const xz = await step('xz', () => compressImage(img, run.signal))
  return publish(paths, manifest, release, img, xz)
}

/**
 * Renames the finished files into place, the manifest last; each flushed first, so that after a
 * power loss a manifest never vouches for an image whose blocks never reached the disk.
 */
async function publish(paths: DemoImagePaths, manifest: DemoManifest, release: DemoRelease, img: string, xz: string): Promise<DemoImage> {
  const sha256 = await sha256File(xz)
  await writeFile(`${xz}.sha256`, `${sha256}  ${basename(paths.xz)}\n`)
  for (const file of [img, xz, `${xz}.sha256`]) await flush(file)
  await rename(img, paths.img)
  await rename(xz, paths.xz)
  await rename(`${xz}.sha256`, paths.sha256File)
  await writeDurable(paths.manifest, serializeManifest(manifest))
  return { arch: manifest.arch, release, img: paths.img, xz: paths.xz, sha256, sha256File: paths.sha256File, cached: false }
}

function stepper(what: string, run: Run) {
  return async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    run.signal?.throwIfAborted()
    run.onLine(`demo image ${what}: ${name}`)
    const started = performance.now()
    const result = await body()
    run.onLine(`demo image ${what}: ${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    return result
  }
}

async function reportModules(staging: string, version: string, arch: DemoArch, run: Run): Promise<void> {
  const missing = await missingModules(staging, version, initramfsModules(arch))
  const required = missing.filter((m) => REQUIRED_MODULES.includes(m))
  if (required.length) {
    throw new PibakeError(
      `kernel ${version} lacks modules the initramfs needs for an NFS root: ${required.join(', ')}`,
      'update REQUIRED_MODULES in src/demo/spec.ts for this kernel',
    )
  }
  if (missing.length) run.onLine(`demo image ${arch}: kernel ${version} has no ${missing.join(', ')} (listed in the initramfs modules)`)
}

async function flush(file: string): Promise<void> {
  const handle = await open(file, 'r+')
  await handle.sync().finally(() => handle.close())
}
