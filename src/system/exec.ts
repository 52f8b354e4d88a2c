/**
 * The one way pibake runs a host program: an argument vector (never a shell string), output
 * captured and optionally streamed line by line, a clear CommandError on failure.
 */
import { constants } from 'node:fs'
import { access, open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { execa } from 'execa'
import { CommandError } from '../errors.ts'

export interface ExecOptions {
  /** Called with every line the program prints, labelled by stream. */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void
  /** Cancels the program (SIGTERM, then SIGKILL) when aborted. */
  readonly signal?: AbortSignal | undefined
  readonly cwd?: string
  readonly env?: Readonly<Record<string, string>>
  /** Text written to the program's standard input. */
  readonly input?: string | Buffer
  /** A file to feed to the program's standard input. */
  readonly inputFile?: string
  /** A file that receives the program's standard output (instead of capturing it). */
  readonly stdoutFile?: string
  /** Said to the user when the program fails: what to do about it. */
  readonly hint?: string
  /** Exit codes that are not failures (default: only 0). */
  readonly okCodes?: readonly number[]
}

export interface ExecResult {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

const TAIL_LINES = 15

export async function exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv
  if (!file) throw new TypeError('exec: empty argument vector')
  const onLine = options.onLine
  // The program writes the file itself (its own descriptor): gigabytes of output never pass through this process.
  const output = options.stdoutFile ? await open(options.stdoutFile, 'w') : undefined
  const result = await execa(file, args, {
    reject: false,
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    stdin: options.inputFile ? { file: options.inputFile } : options.input === undefined ? 'ignore' : 'pipe',
    input: options.input,
    cancelSignal: options.signal,
    forceKillAfterDelay: 5000,
    stripFinalNewline: true,
    // Output sent to a file is not also kept in memory (an image is gigabytes).
    buffer: { stdout: !options.stdoutFile },
    // execa takes a descriptor number at run time; its types list only 'inherit'-like values for stdout.
    stdout: output ? (output.fd as unknown as 'inherit') : onLine ? ['pipe', lineSink(onLine, 'stdout')] : 'pipe',
    stderr: onLine ? ['pipe', lineSink(onLine, 'stderr')] : 'pipe',
  }).finally(() => output?.close())
  const stdout = String(result.stdout ?? '')
  const stderr = String(result.stderr ?? '')
  const ok = result.exitCode !== undefined && (result.exitCode === 0 || options.okCodes?.includes(result.exitCode))
  if (!ok || result.isCanceled) {
    // Stopped rather than failed (by pibake, or by Ctrl-C reaching its whole process group): the
    // hint for a failure would send the user after a fault there is not.
    const interrupted = result.isCanceled || result.signal === 'SIGINT' || result.signal === 'SIGTERM' || result.exitCode === 130
    const reason = result.isCanceled ? 'was cancelled' : interrupted ? 'was interrupted' : undefined
    const tail = lastLines(stderr || stdout || (result.cause instanceof Error ? result.cause.message : ''), TAIL_LINES)
    throw new CommandError(argv, result.exitCode, reason ? `${reason}\n${tail}` : tail, interrupted ? undefined : options.hint)
  }
  return { stdout, stderr, exitCode: result.exitCode ?? 0 }
}

/** A program run as a filter: its standard input and output are streams of the caller's. */
export interface StreamedCommand {
  /** The program's standard input (unless `inputFile` feeds it); end it to let the program finish. */
  readonly stdin: Writable
  /** The program's standard output (unless `stdoutFile` takes it). */
  readonly stdout: Readable
  /** Resolves when the program exits 0; rejects with a CommandError otherwise. */
  readonly done: Promise<void>
}

/**
 * Runs a program whose input and output are streamed (a compressor between a tar stream and a
 * file): nothing is buffered in this process. Its stderr is kept for the error.
 */
export function execStream(argv: readonly string[], options: Pick<ExecOptions, 'signal' | 'hint' | 'inputFile' | 'stdoutFile'> = {}): StreamedCommand {
  const [file, ...args] = argv
  if (!file) throw new TypeError('execStream: empty argument vector')
  const child = execa(file, args, {
    reject: false,
    stdin: options.inputFile ? { file: options.inputFile } : 'pipe',
    stdout: options.stdoutFile ? { file: options.stdoutFile } : 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    cancelSignal: options.signal,
    forceKillAfterDelay: 5000,
  })
  const done = child.then((result) => {
    if (result.exitCode === 0 && !result.isCanceled) return
    const stderr = String(result.stderr ?? '')
    const interrupted = result.isCanceled || result.signal === 'SIGINT' || result.signal === 'SIGTERM'
    const tail = lastLines(stderr || (result.cause instanceof Error ? result.cause.message : ''), TAIL_LINES)
    throw new CommandError(argv, result.exitCode, interrupted ? `was ${result.isCanceled ? 'cancelled' : 'interrupted'}\n${tail}` : tail, interrupted ? undefined : options.hint)
  })
  // Read by the caller through `done`; an early failure must not be an unhandled rejection meanwhile.
  done.catch(() => {})
  return { stdin: child.stdin as Writable, stdout: child.stdout as Readable, done }
}

/** Lookups made, by PATH and name: a build asks for the same programs in its host checks and again in its stages. */
const found = new Map<string, Promise<boolean>>()

/**
 * Whether a program can be found on PATH: an executable file in one of its folders, as the shell's
 * `command -v` finds it. Looked up in this process (a shell per program cost a build some 25
 * processes before it started); the `which` package does the same but its current major needs a
 * newer Node than the 22.18 pibake supports.
 */
export function haveProgram(name: string): Promise<boolean> {
  const path = process.env.PATH ?? ''
  const key = `${path}\0${name}`
  let result = found.get(key)
  if (!result) {
    result = lookUp(name, path)
    found.set(key, result)
  }
  return result
}

async function lookUp(name: string, path: string): Promise<boolean> {
  const candidates = name.includes('/') ? [name] : path.split(':').filter(Boolean).map((dir) => join(dir, name))
  for (const candidate of candidates) {
    const isFile = await stat(candidate).then((s) => s.isFile(), () => false)
    if (isFile && (await access(candidate, constants.X_OK).then(() => true, () => false))) return true
  }
  return false
}

/**
 * Passes output through unchanged while calling `onLine` for every line, where a carriage return
 * also ends a line (progress meters such as rsync's rewrite one line with `\r`).
 */
function lineSink(onLine: NonNullable<ExecOptions['onLine']>, stream: 'stdout' | 'stderr') {
  let pending = ''
  return {
    binary: true as const,
    *transform(chunk: Uint8Array) {
      const parts = (pending + Buffer.from(chunk).toString('utf8')).split(/\r\n|\r|\n/)
      pending = parts.pop() ?? ''
      for (const line of parts) if (line) onLine(line, stream)
      yield chunk
    },
    *final() {
      if (pending) onLine(pending, stream)
    },
  }
}

export function lastLines(text: string, count: number): string {
  const lines = text.trimEnd().split('\n')
  return lines.slice(-count).join('\n')
}
