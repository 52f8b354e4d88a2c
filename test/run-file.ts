/**
 * One test file in its own Node process, process group and mount namespace, under a time limit, and
 * the verdict on it from its exit and uvu's totals. Used by test/run.ts (through test/lanes.ts).
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface FileResult {
  readonly passed: number
  readonly failed: number
  readonly skipped: number
  /** Why the file failed beyond its failed tests, for the runner's line: "timed out after 900 s". */
  readonly problem?: string
}

export interface RunFileOptions {
  readonly limitMs: number
  /**
   * Where the file's output goes (its stdout and stderr, and the runner's notes on it). Default: its
   * stdout to the runner's as it comes, its stderr straight to the runner's stderr.
   */
  readonly output?: (chunk: string) => void
  /** Given the function that stops the file early (the runner's Ctrl-C), with the reason to report. */
  readonly onStart?: (stop: (why: string) => void) => void
}

/** After SIGTERM, the group's processes get this long (at most the file's limit) to undo their mounts. */
const GRACE_MS = 30_000
/** Processes of a file that outlive it by this long are leftovers. */
const LINGER_MS = 5_000

type Exit = { code: number | null; signal: NodeJS.Signals | null } | { stuck: string }

export async function runFile(file: string, options: RunFileOptions): Promise<FileResult> {
  // pibake-source: 'pibake' imported by a test (its recipe fixtures) is this checkout's src/index.ts, not the built dist/ (package.json "exports").
  // detached: a process group of its own, so that stopping the file stops everything it started.
  // unshare: a mount namespace of its own, private: its mounts are seen by nobody else (with the host's
  // `/` private, a namespace another file made while they were up would keep a copy and pin their loop
  // devices), and it starts from the host's namespace, which holds no other file's mounts. Its mounts
  // end with its last process.
  const output = options.output ?? ((chunk: string) => process.stdout.write(chunk))
  const child = spawn('unshare', ['--mount', '--propagation', 'private', process.execPath, '--conditions=pibake-source', file], {
    stdio: ['ignore', 'pipe', options.output ? 'pipe' : 'inherit'],
    env: { ...process.env, FORCE_COLOR: '0' },
    detached: true,
  })
  const { stdout, stderr } = child
  if (!stdout) throw new Error('spawn gave no stdout pipe')
  let out = ''
  // As text decoded across chunks: a character split between two reads stays whole.
  stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
    output(chunk)
  })
  stderr?.setEncoding('utf8').on('data', output)
  const ended = new Promise((done) => stdout.on('close', done))
  const pgid = child.pid
  if (pgid === undefined) return { passed: 0, failed: 1, skipped: 0, problem: `could not start ${process.execPath}` }
  const grace = Math.min(GRACE_MS, options.limitMs)
  let problem: string | undefined
  let stopping: Promise<boolean> | undefined
  let exited = false
  let timer: NodeJS.Timeout | undefined
  const exit = await new Promise<Exit>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
    const stop = (why: string) => {
      // After the exit the group id is free again: another process's group may have it now.
      if (exited) return
      problem ??= why
      stopping ??= stopGroup(pgid, grace).then((gone) => {
        if (!gone) resolve({ stuck: `processes of group ${pgid} survived SIGKILL` })
        return gone
      })
    }
    timer = setTimeout(() => {
      output(`\n# ${relative(process.cwd(), file)}: time is up (${options.limitMs / 1000} s); SIGTERM to its processes, SIGKILL ${grace / 1000} s later\n`)
      stop(`timed out after ${options.limitMs / 1000} s (its limit is set in test/run.ts)`)
    }, options.limitMs)
    options.onStart?.(stop)
  })
  exited = true
  clearTimeout(timer)
  if (stopping) await stopping
  else if (!(await groupGone(pgid, LINGER_MS))) {
    problem = `left processes running ${LINGER_MS / 1000} s after it exited (a server it did not stop?); stopped them`
    await stopGroup(pgid, grace)
  }
  // Its last output (uvu's totals) may still be in the pipe; a process outside the group may hold it open.
  await Promise.race([ended, sleep(2000, undefined, { ref: false })])
  const names = removeNetnsNames(pgid)
  if (names.length) output(`\n# ${relative(process.cwd(), file)}: removed the names of network namespaces it left in /run/netns: ${names.join(', ')}\n`)
  stdout.destroy()
  stderr?.destroy()
  if ('stuck' in exit) return { ...verdict(out, null, null, problem), problem: `${problem}; ${exit.stuck}` }
  return verdict(out, exit.code, exit.signal, problem)
}

/**
 * The names of the network namespaces the file made (`pibake-t<its pid>-…`,
 * test/helpers/loopback-ns.ts) that outlive it. `ip netns add` makes an empty file in /run/netns
 * and mounts the namespace on it, in the file's own mount namespace: a file stopped before its
 * `ip netns del` leaves the empty file in the host's /run/netns (its namespace ended with its last
 * process), which `ip netns list` then shows as "Peer netns reference is invalid". Removed here
 * unless something mounts on it in this namespace; returned to be said.
 */
function removeNetnsNames(pid: number): string[] {
  const prefix = `pibake-t${pid}-`
  let names: string[]
  try {
    names = readdirSync('/run/netns').filter((name) => name.startsWith(prefix))
  } catch {
    return []
  }
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
  const left = names.filter((name) => !mounted.includes(` /run/netns/${name} `))
  for (const name of left) rmSync(join('/run/netns', name), { force: true })
  return left
}

/** The file's result from its output (uvu's "Total: / Passed: / Skipped:" block) and exit. */
export function verdict(out: string, code: number | null, signal: NodeJS.Signals | null, problem?: string): FileResult {
  const totals = [...out.matchAll(/Total:\s+(\d+)\s+Passed:\s+(\d+)\s+Skipped:\s+(\d+)/g)]
  let total = 0
  let passed = 0
  let skipped = 0
  for (const m of totals) {
    total += Number(m[1])
    passed += Number(m[2])
    skipped += Number(m[3])
  }
  problem ??= signal ? `killed by ${signal}` : code !== 0 ? `exited with code ${code}` : undefined
  if (!problem && totals.length === 0) problem = 'printed no uvu totals (no "Total:" line), so its tests did not run to the end'
  if (!problem && total === 0) problem = 'ran no tests (uvu: "Total: 0")'
  const failed = total - passed
  return { passed, failed: problem ? Math.max(failed, 1) : failed, skipped, ...(problem ? { problem } : {}) }
}

/** SIGTERM to the whole group, SIGKILL after the grace period; whether the group is gone. */
async function stopGroup(pgid: number, graceMs: number): Promise<boolean> {
  killGroup(pgid, 'SIGTERM')
  if (await groupGone(pgid, graceMs)) return true
  killGroup(pgid, 'SIGKILL')
  return groupGone(pgid, 10_000)
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

async function groupGone(pgid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs
  while (groupAlive(pgid)) {
    if (Date.now() > deadline) return false
    await sleep(100)
  }
  return true
}

/** Whether a process of the group still runs; zombies (orphans nobody reaped yet) do not count. */
function groupAlive(pgid: number): boolean {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue // ended while we looked
    }
    // pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so split after its last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(pgrp) === pgid && state !== 'Z') return true
  }
  return false
}
