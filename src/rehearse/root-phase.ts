/**
 * The storm's root phase (`root`): after the kernel hand-off, each simulated node reads its build's
 * root read set (reads.ts) over NFS, as that node would mount it: the server and path of its own
 * command line (`nfsroot=<server>:<path>`, from its cmdline.txt as served over TFTP), its own
 * identity folder (`<recipe>/nodes/<mac>`, mounted apart, as the identity script does), in the
 * recorded order. A node whose root is an image (`pibake.root=squashfs|ram`, `pibake.image=
 * <server>:<path>`) reads the image instead: all of it for `ram` (the initramfs copies it into
 * memory); for `squashfs`, as many bytes as the read set holds, from the image's start, in the
 * pieces the boot script's read-ahead asks for (the kernel reads the compressed blocks that hold
 * those files: fewer bytes than that, and not in order; counted so, it is an upper bound).
 *
 * The NFS client is libnfs (nfs-client.ts: why, there). The phase's seconds, bytes and first error
 * (which file, what) are the node's; rootTotals() sums them up for the storm.
 */
import { dirname, posix } from 'node:path'
import { macDir } from '../netboot/layout.ts'
import { IMAGE_READ_AHEAD_KB } from '../roots/squashfs.ts'
import type { LaterPhase, PhaseInput } from './node-result.ts'
import { NfsError, NfsMount } from './nfs-client.ts'
import { identityName, type ReadSet } from './reads.ts'
import type { StormReport } from './storm.ts'

export const ROOT_PHASE = 'root'

export interface RootPhaseOptions {
  /** The read sets of the builds the nodes boot, by build id (the id in each node's nfsroot= path). */
  readonly readSets: readonly ReadSet[]
  /** Each NFS call gives up after this long (default 60 s; a Pi's kernel, mounted hard, would wait on). */
  readonly callTimeoutMs?: number
  /**
   * Read the node's identity folder too (default true). libnfs cannot choose the address it
   * connects from: every simulated node's NFS traffic leaves from the simulator's first address, so
   * a site whose exports give each identity folder to its node's address alone refuses the others.
   */
  readonly identity?: boolean
  /**
   * Connect from reserved ports (below 1024), as a Pi's kernel does (default true): the kernel NFS
   * server's exports are `secure` unless told otherwise and refuse any other port. false gives them
   * up, for nfs-ganesha (it does not ask for them) and storms past ~480 nodes: the simulated nodes
   * share one address, which has ~480 such ports, and past them libnfs tries all 512 again for
   * every connection (nfs-client.ts).
   */
  readonly reservedPorts?: boolean
}

/** What a node's command line says about its root. */
export interface RootMount {
  readonly server: string
  /** The build's tree (`…/<recipe>/builds/<id>`). */
  readonly path: string
  readonly build: string
  readonly mode: string
  /** `pibake.image=`'s server and path, for an image root. */
  readonly image?: { readonly server: string; readonly path: string }
}

type Outcome = Awaited<ReturnType<LaterPhase['run']>>

export function rootPhase(options: RootPhaseOptions): LaterPhase {
  const sets = new Map(options.readSets.map((set) => [set.build, set]))
  const timeout = options.callTimeoutMs ?? 60_000
  return {
    name: ROOT_PHASE,
    async run(input: PhaseInput): Promise<Outcome> {
      const root = rootMount(input.cmdline)
      if (typeof root === 'string') return { bytes: 0, error: { file: 'cmdline.txt', what: root } }
      const set = sets.get(root.build)
      if (!set) return { bytes: 0, error: { what: `no read set recorded for build ${root.build} (pibake try --record-reads records it)` } }
      const reader = new Reader(timeout, input.signal)
      try {
        if (root.image) await reader.image(root.image, root.mode === 'ram' ? Infinity : set.files.filter((f) => identityName(f.path) === undefined).reduce((sum, f) => sum + f.size, 0))
        else await reader.files(root.server, root.path, set.files.filter((f) => identityName(f.path) === undefined))
        const identity = options.identity === false ? [] : set.files.filter((f) => identityName(f.path) !== undefined)
        if (identity.length) await reader.files(root.server, `${root.path.slice(0, root.path.lastIndexOf('/builds/'))}/nodes/${macDir(input.pi.mac)}`, identity, true)
        return { bytes: reader.bytes }
      } catch (error) {
        if (error instanceof NfsError) return { bytes: reader.bytes, error: { file: error.path, what: error.message } }
        throw error
      }
    },
  }
}

/** One node's reads, counting bytes as they come. */
class Reader {
  bytes = 0
  readonly #timeout: number
  readonly #signal: AbortSignal

  constructor(timeout: number, signal: AbortSignal) {
    this.#timeout = timeout
    this.#signal = signal
  }

  async files(server: string, path: string, files: ReadSet['files'], identity = false): Promise<void> {
    const mount = await NfsMount.mount(server, path, this.#timeout)
    try {
      for (const file of files) {
        const name = identity ? identityName(file.path)! : file.path
        if (this.#signal.aborted) throw new NfsError(file.path, 'stopped: the storm\'s time was up')
        const got = await mount.readFile(name, { signal: this.#signal, onRead: (bytes) => (this.bytes += bytes) })
        // A node's own files (its hostname) differ from the recorded node's; the build's may not.
        if (!identity && got !== file.size) throw new NfsError(file.path, `${got} bytes, where the read set recorded ${file.size}: the read set is not this build's`)
      }
    } finally {
      mount.close()
    }
  }

  async image(image: { server: string; path: string }, limit: number): Promise<void> {
    const mount = await NfsMount.mount(image.server, dirname(image.path), this.#timeout)
    try {
      await mount.readFile(posix.basename(image.path), { limit, chunk: IMAGE_READ_AHEAD_KB * 1024, signal: this.#signal, onRead: (bytes) => (this.bytes += bytes) })
    } finally {
      mount.close()
    }
  }
}

/** The root as a node's command line gives it, or why it cannot be read (the file came over TFTP: hostile). */
export function rootMount(cmdline: string): RootMount | string {
  const args = cmdline.trim().split(/\s+/)
  const value = (name: string) => args.findLast((arg) => arg.startsWith(`${name}=`))?.slice(name.length + 1)
  const nfsroot = value('nfsroot')
  if (!nfsroot) return 'no nfsroot= on the command line'
  const target = serverPath(nfsroot.split(',')[0]!)
  if (typeof target === 'string') return `nfsroot=${nfsroot.slice(0, 120)}: ${target}`
  const build = /\/builds\/([^/]+)$/.exec(target.path)?.[1]
  if (!build) return `nfsroot=${nfsroot.slice(0, 120)}: not a build's tree (…/builds/<id>)`
  const mode = value('pibake.root') ?? 'nfs'
  if (mode !== 'squashfs' && mode !== 'ram') return { ...target, build, mode }
  const imageArg = value('pibake.image')
  if (!imageArg) return `pibake.root=${mode} without pibake.image=<server>:<path>`
  const image = serverPath(imageArg)
  if (typeof image === 'string') return `pibake.image=${imageArg.slice(0, 120)}: ${image}`
  return { ...target, build, mode, image }
}

function serverPath(text: string): { server: string; path: string } | string {
  const colon = text.indexOf(':')
  const [server, path] = colon < 0 ? ['', text] : [text.slice(0, colon), text.slice(colon + 1)]
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(server)) return 'no server address before the ":"'
  if (!path.startsWith('/') || path.length > 4096 || path.split('/').slice(1).some((part) => part === '' || part === '.' || part === '..')) return 'not an absolute path inside the export'
  return { server, path }
}

export interface RootTotals {
  readonly nodes: number
  readonly done: number
  /** Seconds from power-on to the read set done (the hand-off plus the phase), over the nodes that got there. */
  readonly p50: number | undefined
  readonly p95: number | undefined
  readonly max: number | undefined
  /** The root phase's own seconds (hand-off to read set done) over the same nodes. */
  readonly phase: { readonly p50: number; readonly p95: number; readonly max: number } | undefined
  readonly bytes: number
  readonly mbps: number
}

/** The root phase of a storm, summed up: how many nodes read their whole read set, how long after power-on, how fast. */
export function rootTotals(report: StormReport): RootTotals {
  const finished = report.nodes.filter((n) => n.completed.includes(ROOT_PHASE) && n.handoff !== undefined)
  const done = finished.map((n) => n.handoff! + (n.seconds[ROOT_PHASE] ?? 0)).sort((a, b) => a - b)
  const own = finished.map((n) => n.seconds[ROOT_PHASE] ?? 0).sort((a, b) => a - b)
  const q = (sorted: readonly number[], p: number) => round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!)
  const phase = report.totals.phases.find((p) => p.phase === ROOT_PHASE)
  return {
    nodes: report.nodes.length,
    done: done.length,
    p50: done.length ? q(done, 0.5) : undefined,
    p95: done.length ? q(done, 0.95) : undefined,
    max: done.length ? q(done, 1) : undefined,
    phase: own.length ? { p50: q(own, 0.5), p95: q(own, 0.95), max: q(own, 1) } : undefined,
    bytes: phase?.bytes ?? 0,
    mbps: phase?.mbps ?? 0,
  }
}

export function formatRootTotals(report: StormReport): string[] {
  if (!report.totals.phases.some((p) => p.phase === ROOT_PHASE)) return []
  const t = rootTotals(report)
  const times = t.p50 === undefined ? 'none got there' : `p50 ${t.p50.toFixed(1)} s, p95 ${t.p95!.toFixed(1)} s, max ${t.max!.toFixed(1)} s`
  const own = t.phase ? `; after the hand-off p50 ${t.phase.p50.toFixed(1)} s, p95 ${t.phase.p95.toFixed(1)} s, max ${t.phase.max.toFixed(1)} s` : ''
  return [`root read set done: ${t.done} of ${t.nodes} nodes, after power-on ${times}${own}; ${(t.bytes / 1e6).toFixed(1)} MB at ${t.mbps.toFixed(1)} MB/s`]
}

function round(value: number): number {
  return Math.round(value * 100) / 100
}
