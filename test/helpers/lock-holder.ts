/**
 * Locks taken by other processes, as another pibake takes them: a child process that holds a lock
 * until told to release it (or is killed holding it), and children that race for one at the same
 * moment. A holder in the test's own process could not be told from the process it refuses.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { SshDestination } from '../../src/system/ssh.ts'
import { signal } from './process.ts'
import { waitFor } from './wait.ts'

const src = (path: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../src', path)).href)

export interface LockSpec {
  /** The site's lock, a recipe's publish lock, or a build's lock (src/pipeline/lock.ts). */
  readonly kind: 'site' | 'publish' | 'build'
  readonly dir: string
  /** Over SSH to this host, instead of this machine's files. */
  readonly ssh?: SshDestination
  /** The host name the child runs under (in a UTS namespace of its own), as if on another machine. */
  readonly hostname?: string
}

/**
 * For each line on stdin: `hold` takes the lock, says `held` and releases it at the next line;
 * `die` takes it and is killed holding it; `race <at> <ms>` takes it at the moment `at` (ms since
 * the epoch), holds it `ms` and releases it. After each: `released [from,to]` (when it held it),
 * `release failed: …` or `refused: …`.
 */
const CHILD = `const spec = JSON.parse(process.argv[1])
const host = spec.ssh ? (await import(${src('publish/ssh-host.ts')})).sshHost(spec.ssh) : undefined
const lock = await import(process.argv[2])
const files = host?.files ?? (await import(${src('publish/files.ts')})).localFiles()
const take = () => spec.kind === 'build' ? lock.acquireLock(spec.dir) : spec.kind === 'site' ? lock.lockSite(files, spec.dir) : lock.lockPublish(files, spec.dir, 'lab')
const say = (line) => new Promise((done) => process.stdout.write(line + '\\n', done))
// The machine's monotonic clock, the same in every process: performance.timeOrigin is each
// process's own estimate of the wall clock at its start, and two of them disagree by milliseconds
// on a loaded machine (two holds of 300 ms seemed to overlap by 7 ms).
const now = () => Number(process.hrtime.bigint()) / 1e6
const lines = (await import('node:readline')).createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const next = async () => (await lines.next()).value
for (let line = await next(); line; line = await next()) {
  const [what, at, ms] = line.split(' ')
  try {
    if (what === 'race') while (Date.now() < Number(at)) {}
    const release = await take()
    const from = now()
    if (what === 'die') process.kill(process.pid, 'SIGKILL')
    if (what === 'hold') await say('held')
    await (what === 'hold' ? next() : new Promise((done) => setTimeout(done, Number(ms))))
    const to = now()
    await release().then(() => say('released ' + JSON.stringify([from, to])), (error) => say('release failed: ' + error.message))
  } catch (error) {
    await say('refused: ' + error.message)
  }
  if (what === 'hold') break
}
await host?.close()
process.exit(0)`

interface Child {
  readonly pid: number
  /** Everything it said so far. */
  readonly said: () => string
  /** What it said, once it has exited. */
  readonly exited: Promise<string>
  readonly tell: (line: string) => void
  /** The next line it says. */
  readonly hear: () => Promise<string>
}

/** Children still running, stopped by stopHolders. */
const running = new Set<number>()

/** Kills (by pid) every child still running: one a failed test left holding its lock. */
export function stopHolders(): void {
  for (const pid of running) signal(pid, 'SIGKILL')
  running.clear()
}

function child(spec: LockSpec): Child {
  const lock = JSON.parse(src(spec.kind === 'build' ? 'pipeline/lock.ts' : 'publish/lock.ts')) as string
  const node = [process.execPath, '--conditions=pibake-source', '--input-type=module', '-e', CHILD, JSON.stringify(spec), lock]
  // unshare and sh exec node: the child's pid is node's.
  const argv = spec.hostname ? ['unshare', '--uts', '--', 'sh', '-c', 'hostname "$1" && shift && exec "$@"', 'sh', spec.hostname, ...node] : node
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] })
  let out = ''
  let heard = 0
  let ended = false
  proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  running.add(proc.pid!)
  const exited = new Promise<string>((done, fail) => {
    proc.on('error', fail)
    proc.on('close', () => {
      running.delete(proc.pid!)
      done(out.trim())
    })
  })
  void exited.then(() => (ended = true))
  const hear = async () => {
    const line = await waitFor(
      () => {
        const lines = out.split('\n')
        if (lines.length - 1 > heard) return lines[heard++]!
        if (ended) throw new Error(`the lock's child process ended, having said: ${out}`)
        return undefined
      },
      { what: "a lock's child process to say what it did", timeoutMs: 60_000, seen: () => out },
    )
    return line
  }
  return { pid: proc.pid!, said: () => out.trim(), exited, tell: (line) => proc.stdin.write(`${line}\n`), hear }
}

export interface Holding {
  readonly pid: number
  /** Tells it to release the lock; resolves with all it said (`held`, then `released …` or `release failed: …`), once it has exited. */
  readonly release: () => Promise<string>
}

/** A child process that holds the lock (resolves once it does, or throws with what it said instead). */
export async function holdLock(spec: LockSpec): Promise<Holding> {
  const holder = child(spec)
  holder.tell('hold')
  const said = await holder.hear()
  if (said !== 'held') throw new Error(`the child did not take the lock: ${said}`)
  return {
    pid: holder.pid,
    release: () => {
      holder.tell('release')
      return holder.exited
    },
  }
}

/** A child process that takes the lock and is killed holding it: its lock stays, its pid is dead. */
export async function dieHolding(spec: LockSpec): Promise<number> {
  const dying = child(spec)
  dying.tell('die')
  const said = await dying.exited
  if (said !== '') throw new Error(`the dying holder did not take the lock: ${said}`)
  return dying.pid
}

export interface Racers {
  /** Their pids, in the order of what `race` returns. */
  readonly pids: readonly number[]
  /** All take the lock at the same moment, each holds it `holdMs` and releases it: what each said. */
  readonly race: (holdMs: number) => Promise<string[]>
  readonly close: () => Promise<void>
}

/** `count` child processes, started once, racing for the lock as many times as asked. */
export function racers(spec: LockSpec, count: number): Racers {
  const children = Array.from({ length: count }, () => child(spec))
  return {
    pids: children.map((c) => c.pid),
    race: (holdMs) => {
      // Time enough for every child to be spinning, waiting for the moment (on a busy machine too).
      const at = Date.now() + 500
      for (const c of children) c.tell(`race ${at} ${holdMs}`)
      return Promise.all(children.map((c) => c.hear()))
    },
    close: async () => {
      for (const c of children) c.tell('')
      await Promise.all(children.map((c) => c.exited))
    },
  }
}

/** Where the racers' holds (`released [from,to]`, on the monotonic clock) overlap: none, when the lock has one holder at a time. */
export function overlaps(said: readonly string[]): string[] {
  const held = said.flatMap((text) => {
    const released = /^released (\[.*\])$/m.exec(text)?.[1]
    return released ? [JSON.parse(released) as [number, number]] : []
  })
  held.sort((a, b) => a[0] - b[0])
  return held.slice(1).flatMap((next, i) => (next[0] < held[i]![1] ? [`held ${held[i]!.map(Math.round).join('..')} and ${next.map(Math.round).join('..')}`] : []))
}
