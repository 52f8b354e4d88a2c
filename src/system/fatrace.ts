/**
 * fatrace (Debian's `fatrace`, fanotify): the files one program opens and reads on one file system,
 * in order, as `pibake try --record-reads` asks of the NFS server. Run as root. It marks the file
 * system of its working folder (`-c`), keeps only events of processes named `command` (`-C`; the
 * caller filters by PID too), and writes to a file, which is read once it has stopped.
 */
import { existsSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { signal } from './process.ts'

export interface FileEvent {
  readonly pid: number
  /** fatrace's letters: O opened, R read, W written, C closed… */
  readonly types: string
  readonly path: string
}

export interface FileTrace {
  /** Stops fatrace and returns its events in order. */
  stop(): Promise<FileEvent[]>
}

/**
 * Starts fatrace on the file system holding `dir`, for processes named `command`; it stops by
 * itself after `seconds`. Resolves once fatrace has had a moment to set its marks.
 */
export async function traceFiles(options: { dir: string; command: string; output: string; seconds: number }): Promise<FileTrace> {
  const child = execa('fatrace', ['-c', '-f', 'OR', '-C', options.command, '-s', String(options.seconds), '-o', options.output], { cwd: options.dir, reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', cleanup: true })
  let exited = false
  const done = child.then((result) => {
    exited = true
    return result
  })
  // fanotify marks are set before fatrace's first read: a quiet second covers it on a busy machine.
  await Promise.race([done, sleep(1000)])
  if (exited) {
    const result = await done
    throw new Error(`fatrace exited at once (${result.exitCode ?? result.signal}): ${String(result.stderr).trim()}`)
  }
  return {
    async stop() {
      if (!exited && child.pid !== undefined) signal(child.pid, 'SIGINT')
      const stopped = await Promise.race([done.then(() => true), sleep(5000, false)])
      if (!stopped && child.pid !== undefined) {
        signal(child.pid, 'SIGKILL')
        await done
      }
      return existsSync(options.output) ? parseFatrace(readFileSync(options.output, 'utf8')) : []
    },
  }
}

/** `comm(pid): TYPES path` lines; others (a path fatrace could not name, `comm(pid): O [dev inode]`) are left out. */
export function parseFatrace(text: string): FileEvent[] {
  const events: FileEvent[] = []
  for (const line of text.split('\n')) {
    const match = /^.*\((\d+)\): ([A-Z+<>]+) +(\/.*)$/.exec(line)
    if (match) events.push({ pid: Number(match[1]), types: match[2]!, path: match[3]! })
  }
  return events
}
