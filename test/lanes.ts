/**
 * Lanes of test files run at once, each lane's files one after the other (test/run.ts puts the slow
 * tier in one lane, the quick tier and a few self-contained slow files in the other). The first
 * lane's output (each file's stdout and stderr) comes as it is written; a file of another lane is
 * printed whole when it ends, so that no two files' lines mix.
 */
import { runFile, type FileResult } from './run-file.ts'

export interface LaneFile {
  /** As printed: the path relative to the repository. */
  readonly name: string
  readonly path: string
  readonly limitMs: number
}

export interface LaneResult {
  readonly name: string
  readonly result: FileResult
}

/**
 * Runs the lanes at once and returns every file's result, lane by lane in order. Once `signal`
 * aborts, each lane's running file is stopped (its reason is the file's problem) and no other starts.
 */
export async function runLanes(
  lanes: readonly (readonly LaneFile[])[],
  signal: AbortSignal,
  print: (text: string) => void = (text) => process.stdout.write(text),
): Promise<LaneResult[]> {
  const results = await Promise.all(lanes.map((files, i) => runLane(files, i > 0, signal, print)))
  return results.flat()
}

async function runLane(files: readonly LaneFile[], whole: boolean, signal: AbortSignal, print: (text: string) => void): Promise<LaneResult[]> {
  const results: LaneResult[] = []
  for (const file of files) {
    if (signal.aborted) break
    const header = `\n# ${file.name}${whole ? ' (second lane, beside the slow files)' : ''}\n`
    let text = ''
    if (!whole) print(header)
    const started = Date.now()
    let stopFile: ((why: string) => void) | undefined
    const onAbort = () => stopFile?.(String(signal.reason))
    signal.addEventListener('abort', onAbort)
    let result: FileResult
    try {
      result = await runFile(file.path, {
        limitMs: file.limitMs,
        output: whole ? (chunk: string) => (text += chunk) : print,
        onStart: (stop) => {
          stopFile = stop
          if (signal.aborted) onAbort()
        },
      })
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    const problem = result.problem ? `; FAILED: ${result.problem}` : ''
    const line = `# ${file.name}: ${result.passed} passed, ${result.failed} failed (${seconds} s)${problem}\n`
    print(whole ? `${header}${text}${text.endsWith('\n') || !text ? '' : '\n'}${line}` : line)
    results.push({ name: file.name, result })
  }
  return results
}
