/**
 * `pibake try --record-reads`: the build's root read set (src/rehearse/reads.ts) recorded from the
 * boot try makes. fatrace watches the file system of the published tree from the NFS server's side
 * (fanotify sees ganesha's reads however the guest asked for them, and needs nothing in the guest
 * or the image), for ganesha's PID alone: each file of the build's tree, and of this node's identity
 * folder, in the order ganesha first read it, until the node is running. Written beside the build as
 * `<id>.reads.json` (staged, then renamed into place), where gc collects it with the build.
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
      const set: ReadSet = { version: READS_VERSION, build: options.build, recipe: options.recipe, until, seconds: Math.round((performance.now() - started) / 1000), files }
      const file = join(recipeDir, 'builds', readsFileName(options.build))
      await writeFile(`${file}.partial`, `${JSON.stringify(set, null, 1)}\n`)
      await rename(`${file}.partial`, file)
      return { file, files: files.length, bytes: files.reduce((sum, f) => sum + f.size, 0) }
    },
  }
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
