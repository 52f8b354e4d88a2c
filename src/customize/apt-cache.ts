/**
 * apt's state kept outside the image, in `<out>/cache/apt/<arch>/`, and bind-mounted into it for
 * the time of each apt command: nothing of it is ever written into the image.
 *
 *   archives/              downloaded .deb files, shared by every build of this architecture
 *   lists-<sources>/       package lists (`/var/lib/apt/lists`), one set per apt sources configuration
 *   var-cache-<sources>/   `/var/cache/apt` (apt's binary caches of those lists), `archives/` mounted inside
 *   updated-<sources>/     one empty file per packages-step input that the lists were fetched for
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { acquireLock } from '../pipeline/lock.ts'
import { stableJson } from '../pipeline/manifest.ts'
import { PibakeError } from '../errors.ts'
import type { Bind } from '../system/chroot.ts'
import { resolveInRoot } from '../system/inroot.ts'
import type { StepContext } from './context.ts'

export interface AptCache {
  readonly dir: string
  readonly lists: string
  readonly varCache: string
  readonly archives: string
  readonly updated: string
  /** The image's apt sources configuration, hashed: which lists these are. */
  readonly sources: string
}

export async function openAptCache(ctx: StepContext): Promise<AptCache> {
  const dir = join(ctx.cacheDir, 'apt', ctx.arch)
  const sources = (await sourcesHash(ctx.root)).slice(0, 16)
  const cache: AptCache = {
    dir,
    sources,
    lists: join(dir, `lists-${sources}`),
    varCache: join(dir, `var-cache-${sources}`),
    archives: join(dir, 'archives'),
    updated: join(dir, `updated-${sources}`),
  }
  for (const folder of [join(cache.lists, 'partial'), join(cache.varCache, 'archives'), join(cache.archives, 'partial'), cache.updated]) {
    await mkdir(folder, { recursive: true })
  }
  return cache
}

/** The bind mounts that put the cache where apt looks (the image's own folders stay untouched under them). */
export function cacheBinds(cache: AptCache): Bind[] {
  return [
    { source: cache.lists, target: '/var/lib/apt/lists' },
    { source: cache.varCache, target: '/var/cache/apt' },
    { source: cache.archives, target: '/var/cache/apt/archives' },
  ]
}

/** Everything that decides which package lists apt fetches: sources.list, sources.list.d/, and the architecture. */
async function sourcesHash(root: string): Promise<string> {
  const hash = createHash('sha256')
  for (const { name, text } of await sourceFiles(root)) hash.update(`${name}\0${text}\0`)
  return hash.digest('hex')
}

/**
 * Whether the image's sources name a keyring by its path (`signed-by=`, `Signed-By:`): a path this
 * host's apt would look up on the host, not in the image.
 */
export async function sourcesNameKeyrings(root: string): Promise<boolean> {
  return (await sourceFiles(root)).some(({ text }) => /signed-by\s*[=:]/i.test(text))
}

/** sources.list and the .list and .sources files of sources.list.d/ (names sorted), as text. */
async function sourceFiles(root: string): Promise<{ name: string; text: string }[]> {
  const read = async (path: string) => readFile(await resolveInRoot(root, path, { followLast: true }), 'utf8').catch(() => '')
  const files = [{ name: 'sources.list', text: await read('/etc/apt/sources.list') }]
  const dir = await resolveInRoot(root, '/etc/apt/sources.list.d', { followLast: true })
  const names = (await readdir(dir).catch(() => [])).filter((name) => /\.(list|sources)$/.test(name)).sort()
  for (const name of names) files.push({ name, text: await read(`/etc/apt/sources.list.d/${name}`) })
  return files
}

/** Whether the lists were fetched for exactly these step inputs (and are still there). */
export async function listsFreshFor(cache: AptCache, inputs: unknown): Promise<boolean> {
  const names = await readdir(cache.lists).catch(() => [])
  if (!names.some((name) => name.endsWith('Release'))) return false
  return stat(join(cache.updated, updateKey(cache, inputs))).then(() => true, () => false)
}

export async function markListsFetched(cache: AptCache, inputs: unknown): Promise<void> {
  await writeFile(join(cache.updated, updateKey(cache, inputs)), `${stableJson(inputs)}\n`)
}

function updateKey(cache: AptCache, inputs: unknown): string {
  return createHash('sha256').update(stableJson({ sources: cache.sources, inputs })).digest('hex').slice(0, 32)
}

/** One build at a time uses an architecture's cache (apt's own locks would make the other fail, not wait). */
export async function lockCache(cache: AptCache, signal: AbortSignal, log: (message: string) => void): Promise<() => Promise<void>> {
  for (let waited = 0; ; waited++) {
    try {
      return await acquireLock(cache.dir)
    } catch (error) {
      if (!(error instanceof PibakeError)) throw error
      if (waited === 0) log(`waiting for another pibake build to finish with the apt cache ${cache.dir}`)
      await sleep(1000, undefined, { signal })
    }
  }
}
