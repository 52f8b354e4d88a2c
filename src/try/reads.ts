/**
 * `pibake try --record-reads`: the build's root read set (src/rehearse/reads.ts) recorded from the
 * boot try makes. fatrace watches the file system of the published tree from the NFS server's side
 * (fanotify sees ganesha's reads however the guest asked for them, and needs nothing in the guest
 * or the image), for ganesha's PID alone: each file of the build's tree, and of this node's identity
 * folder, in the order ganesha first read it, until the node is running. Written beside the build as
 * `<id>.reads.json` (staged, then renamed into place), where gc collects it with the build.
 *
 * A node whose root is an image (netboot.root 'squashfs' or 'ram') has ganesha read one file, the
 * image, whatever the boot reads inside it: its read set is what the node's memory holds pages of
 * once it is running (fincore, util-linux: in every Raspberry Pi OS and Debian image), listed over
 * SSH. The order of the reads is lost there (the list is in path order, each file with the bytes
 * it holds in memory); which files, not their order, is what orders the image (roots/order.ts).
 */
import { lstatSync, realpathSync } from 'node:fs'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { macDir } from '../netboot/layout.ts'
import { IDENTITY_PREFIX, READS_VERSION, readsFileName, unsafePath, type ReadEntry, type ReadSet } from '../rehearse/reads.ts'
import { traceFiles, type FileEvent } from '../system/fatrace.ts'

export interface ReadRecorder {
  /** Stops the recording and writes the read set; returns its file and how many files it lists. */
  finish(until: string): Promise<{ readonly file: string; readonly files: number; readonly bytes: number }>
  /** Stops the recording, writing nothing (the boot failed); nothing once finished. */
  stop(): Promise<void>
}

export interface RecordOptions {
  /** `<nfs>/<recipe>`: the build's tree is `builds/<id>` under it, the node's identity folder `nodes/<mac>`. */
  readonly recipeDir: string
  readonly recipe: string
  readonly build: string
  readonly mac: string
  /** ganesha's PID: only its reads count. */
  readonly serverPid: number
  /** A folder of try's for fatrace's output. */
  readonly dir: string
  /** fatrace stops by itself after this long. */
  readonly seconds: number
}

export async function recordReads(options: RecordOptions): Promise<ReadRecorder> {
  const recipeDir = realpathSync(options.recipeDir)
  const started = performance.now()
  const trace = await traceFiles({ dir: recipeDir, command: 'ganesha.nfsd', output: join(options.dir, 'fatrace.log'), seconds: options.seconds })
  let stopped = false
  return {
    async stop() {
      if (stopped) return
      stopped = true
      await trace.stop()
    },
    async finish(until) {
      stopped = true
      const events = await trace.stop()
      const files = readSet(events, { ...options, recipeDir })
      return writeReadSet(recipeDir, { version: READS_VERSION, build: options.build, recipe: options.recipe, until, seconds: Math.round((performance.now() - started) / 1000), files })
    },
  }
}

/** Writes `set` beside its build (`<recipeDir>/builds/<id>.reads.json`, staged, then renamed into place). */
export async function writeReadSet(recipeDir: string, set: ReadSet): Promise<{ readonly file: string; readonly files: number; readonly bytes: number }> {
  const file = join(recipeDir, 'builds', readsFileName(set.build))
  await writeFile(`${file}.partial`, `${JSON.stringify(set, null, 1)}\n`)
  await rename(`${file}.partial`, file)
  return { file, files: set.files.length, bytes: set.files.reduce((sum, f) => sum + f.size, 0) }
}

/**
 * Run on a node with an image root once it is running: every file of `/` (the overlay over the
 * image; not /proc, /run or the other mounts) with pages in memory, as `<bytes in memory> <path>`.
 * fincore maps each file without reading it, so the listing adds nothing to what it lists.
 */
export const RESIDENT_FILES_COMMAND = "find / -xdev -type f -print0 | xargs -0r fincore --noheadings --bytes --raw --output RES,FILE"

/**
 * The read set of an image root from RESIDENT_FILES_COMMAND's output: the files with bytes in
 * memory, in path order. A name fincore had to escape (`\x20`), or that could leave the build, is
 * left out; so are files the node wrote itself (tmpfs pages are all in memory), once publish looks
 * for them in the build's tree.
 */
export function residentReadSet(output: string): ReadEntry[] {
  const entries: ReadEntry[] = []
  for (const line of output.split('\n')) {
    const match = /^(\d+) \/(.+)$/.exec(line)
    if (!match || match[1] === '0' || match[2]!.includes('\\')) continue
    const path = match[2]!
    if (unsafePath(path) || path.includes('<') || path.includes('>')) continue
    entries.push({ path, size: Number(match[1]) })
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

/** The files ganesha read, first read first, as paths in the build (or `nodes/<mac>/…`), with their sizes. */
export function readSet(events: readonly FileEvent[], options: Pick<RecordOptions, 'recipeDir' | 'build' | 'mac' | 'serverPid'>): ReadEntry[] {
  const build = `${join(options.recipeDir, 'builds', options.build)}/`
  const identity = `${join(options.recipeDir, 'nodes', macDir(options.mac))}/`
  const seen = new Set<string>()
  const entries: ReadEntry[] = []
  for (const event of events) {
    if (event.pid !== options.serverPid || !event.types.includes('R') || seen.has(event.path)) continue
    seen.add(event.path)
    const path = event.path.startsWith(build) ? event.path.slice(build.length) : event.path.startsWith(identity) ? `${IDENTITY_PREFIX}${event.path.slice(identity.length)}` : undefined
    // Outside the build and this node's folder (another node's, an image beside the build), or a
    // name the read set cannot carry: left out.
    if (path === undefined || unsafePath(path)) continue
    const stat = lstatSync(event.path, { throwIfNoEntry: false })
    if (stat?.isFile()) entries.push({ path, size: stat.size })
  }
  return entries
}
