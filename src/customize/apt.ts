/**
 * `packages` and `remove` steps: the image's own apt-get and dpkg, made fast for emulation.
 *
 * - Downloads and package lists live in the apt cache outside the image (see apt-cache.ts), so the
 *   next build downloads nothing it has, and the image never holds a list or an archive.
 * - `apt-get update` runs only when this step's inputs (or the image's sources) are new to the
 *   cache, or with `--refresh`; if cached lists turn out stale (a 404), it runs and the step retries.
 * - dpkg doesn't sync before renaming (`--force-unsafe-io`): a failed stage's layer is thrown
 *   away, so there is nothing to keep durable. (libeatmydata preloaded on top of it was measured
 *   under emulation and saved nothing, so it is not used.)
 * - No recommended packages unless asked, no man-db index rebuild, no pty, no translations.
 * - Installing, upgrading and removing use this host's apt-get on the image, as mmdebstrap does for
 *   a foreign architecture: apt reads the image's configuration, sources, lists and dpkg status
 *   (`Dir` is the image's root, `APT::Architecture` the image's), resolves and downloads natively,
 *   and runs the image's own dpkg inside the root (`DPkg::Chroot-Directory`), so that unpacking,
 *   maintainer scripts and triggers are the image's own, under emulation (but for the shell and core
 *   programs of this host's that are the image's versions: host-tools.ts). apt under emulation spent
 *   seconds of CPU loading its package cache alone, and tens of seconds on `apt-get update`. The
 *   lists are verified with the image's keys (`Dir::Etc::Trusted` is in the image); where the
 *   image's sources name a keyring by its path (`Signed-By:`, which this host's apt would look up
 *   on the host), `apt-get update` stays the image's own, under emulation.
 */
import { lstat, mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CommandError, PibakeError } from '../errors.ts'
import type { PackagesStep, RemoveStep } from '../recipe/types.ts'
import { setAside } from '../system/chroot.ts'
import { Cleanup } from '../system/cleanup.ts'
import type { ExecResult } from '../system/exec.ts'
import { resolveInRoot } from '../system/inroot.ts'
import { cacheBinds, listsFreshFor, lockCache, markListsFetched, openAptCache, sourcesNameKeyrings, type AptCache } from './apt-cache.ts'
import type { StepContext } from './context.ts'
import { hostTools, makeMountFolders, toolBinds, touchedPackages } from './host-tools.ts'
import { CommandFailure } from './describe.ts'

/** Settings for every apt-get run: fast, quiet, non-interactive, and keeping what it downloads. */
export const APT_OPTIONS: readonly string[] = [
  ...['-q', '-y'],
  ...['-o', 'Dpkg::Use-Pty=0'],
  ...['-o', 'Dpkg::Options::=--force-unsafe-io'],
  ...['-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold'],
  ...['-o', 'APT::Install-Suggests=false'],
  ...['-o', 'APT::Keep-Downloaded-Packages=true'],
  ...['-o', 'Acquire::Languages=none', '-o', 'Acquire::PDiffs=false', '-o', 'Acquire::Retries=3'],
  ...['-o', 'DPkg::Lock::Timeout=60'],
]

const APT_ENV = { APT_LISTCHANGES_FRONTEND: 'none', UCF_FORCE_CONFFOLD: '1' }

/** Runs apt-get with `args`: this host's on the image (the image's own for an `update` that needs its keyrings by path). */
type Apt = (args: readonly string[]) => Promise<ExecResult>

/** Where the host's apt finds its configuration: in the command's own /run, inside the root. */
const HOST_APT_DIR = '/run/pibake/apt'

export async function installPackages(step: PackagesStep, ctx: StepContext): Promise<void> {
  await withApt(ctx, async (apt, cache) => {
    const inputs = { install: step.install, upgrade: step.upgrade, recommends: step.recommends }
    let updated = false
    const update = async () => {
      await apt(['update'])
      await markListsFetched(cache, inputs)
      updated = true
    }
    if (!ctx.refresh && (await listsFreshFor(cache, inputs))) ctx.info('package lists from the cache: this step is unchanged (--refresh fetches them again)')
    else await update()
    const recommends = ['-o', `APT::Install-Recommends=${step.recommends}`]
    const work = async () => {
      if (step.upgrade) await apt([...recommends, 'dist-upgrade'])
      if (step.install.length) await apt([...recommends, 'install', '--', ...step.install])
    }
    await work().catch(async (error: unknown) => {
      if (!(error instanceof CommandError) || !isFetchFailure(error) || updated) throw missingPackages(error) ?? error
      ctx.info('the cached package lists are out of date: fetching them and trying again')
      await update()
      await work()
    })
  })
}

export async function removePackages(step: RemoveStep, ctx: StepContext): Promise<void> {
  await withApt(ctx, async (apt) => {
    await apt(['purge', '--auto-remove', '--', ...step.packages]).catch((error: unknown) => {
      throw missingPackages(error) ?? error
    })
  })
}

/** Runs `use` with apt-get bound to the cache, man-db's index rebuild set aside, and the cache locked. */
export async function withApt(ctx: StepContext, use: (apt: Apt, cache: AptCache) => Promise<void>): Promise<void> {
  const cache = await openAptCache(ctx)
  const release = await lockCache(cache, ctx.signal, ctx.info)
  const undo = new Cleanup()
  try {
    // man-db's trigger does nothing while this file is missing: no index rebuild under emulation.
    await setAside(ctx.root, { path: '/var/lib/man-db/auto-update' }, undo)
    const binds = cacheBinds(cache)
    for (const bind of binds) await ensureFolder(ctx.root, bind.target, undo)
    const config = await mkdtemp(join(ctx.scratch, 'apt-'))
    undo.defer(`remove ${config}`, () => rm(config, { recursive: true, force: true }))
    await writeFile(join(config, 'apt.conf'), await hostAptConfig(ctx.root, ctx.arch))
    const tools = await hostTools(ctx.root)
    if (tools.use) await makeMountFolders(ctx.root, tools.folders, undo)
    else ctx.info(`maintainer scripts run emulated: ${tools.why}`)
    const onHost = { binds: [...binds, { source: config, target: HOST_APT_DIR, readOnly: true }], env: { ...APT_ENV, APT_CONFIG: `${ctx.root}${HOST_APT_DIR}/apt.conf` }, onHost: true }
    const imageUpdate = await sourcesNameKeyrings(ctx.root)
    const apt: Apt = async (args) => {
      if (args[0] === 'update') return ctx.run(['apt-get', ...APT_OPTIONS, ...args], imageUpdate ? { binds, env: APT_ENV } : onHost)
      if (!tools.use) return ctx.run(['apt-get', ...APT_OPTIONS, ...args], onHost)
      // What the run would change, asked first (natively, no dpkg run): those packages' programs stay the image's.
      const touched = touchedPackages((await ctx.run(['apt-get', ...APT_OPTIONS, '--simulate', ...args], onHost)).stdout)
      const scripts = toolBinds(tools, touched)
      ctx.info(scripts.message)
      return ctx.run(['apt-get', ...APT_OPTIONS, ...args], { ...onHost, binds: [...onHost.binds, ...scripts.binds] })
    }
    await use(apt, cache)
  } finally {
    const errors = await undo.run()
    await release()
    if (errors.length) throw errors[0]
  }
}

/**
 * The host apt's configuration for working on the image at `root` (read before anything else, via
 * APT_CONFIG, so that the image's apt.conf.d is read and the host's never is). Paths apt has as
 * absolute by default (the dpkg status) are pointed into the image; dpkg itself is the image's.
 */
export async function hostAptConfig(root: string, arch: string): Promise<string> {
  const listed = await readFile(await resolveInRoot(root, '/var/lib/dpkg/arch', { followLast: true }), 'utf8').catch(() => '')
  const archs = [...new Set([arch, ...listed.split('\n').map((line) => line.trim()).filter(Boolean)])]
  const quote = (value: string) => {
    if (/["\n]/.test(value)) throw new Error(`apt's configuration cannot hold ${JSON.stringify(value)}`)
    return `"${value}"`
  }
  return [
    `Dir ${quote(`${root}/`)};`,
    `Dir::State::status ${quote(`${root}/var/lib/dpkg/status`)};`,
    `APT::Architecture ${quote(arch)};`,
    `APT::Architectures { ${archs.map((a) => `${quote(a)};`).join(' ')} };`,
    `DPkg::Chroot-Directory ${quote(root)};`,
    '',
  ].join('\n')
}

/** Makes the folder `path` in the image for the time of the step if it lacks it (a slimmed image may have no apt lists folder). */
async function ensureFolder(root: string, path: string, undo: Cleanup): Promise<void> {
  let here = ''
  for (const part of path.split('/').filter(Boolean)) {
    here = `${here}/${part}`
    const target = await resolveInRoot(root, here, { followLast: true })
    if (await lstat(target).catch(() => undefined)) continue
    await mkdir(target)
    undo.defer(`remove ${here} from the image`, () => rmdir(target))
  }
}

const FETCH_FAILURE = /^E: (Failed to fetch|Unable to fetch some archives)|\b404\s+Not Found/m

function isFetchFailure(error: CommandError): boolean {
  return FETCH_FAILURE.test(error.stderrTail)
}

/** apt's "Unable to locate package x" and its kin, as an error naming the packages. */
function missingPackages(error: unknown): PibakeError | undefined {
  if (!(error instanceof CommandError)) return undefined
  const names = [
    ...error.stderrTail.matchAll(/^E: Unable to locate package (\S+)/gm),
    ...error.stderrTail.matchAll(/^E: Package '([^']+)' has no installation candidate/gm),
    ...error.stderrTail.matchAll(/^E: Version '[^']+' for '([^']+)' was not found/gm),
  ].map((m) => m[1] ?? '')
  if (!names.length) return undefined
  const list = [...new Set(names)].map((n) => `"${n}"`).join(', ')
  const what = `failed: no package ${list} in the image's apt sources`
  return new CommandFailure(what, error, 'check the spelling (apt-cache search in the image), or add the repository that has it to the image\'s sources first')
}
