import { diffSnapshots, diffToJson, formatDiff, writeSnapshot } from '../snapshot/index.ts'
import { loadAnySnapshot } from '../snapshot/image.ts'
import { UsageError } from '../errors.ts'
import { oneArgument, type Values } from './commands.ts'

export async function snapshotCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  const snapshot = await loadAnySnapshot(oneArgument(args, 'a directory, build, image or snapshot file'), { signal })
  if (values.output) {
    await writeSnapshot(snapshot, values.output)
    process.stderr.write(`pibake: ${snapshot.entries.length} entries saved to ${values.output}\n`)
  } else {
    process.stdout.write(`${JSON.stringify(snapshot)}\n`)
  }
  return 0
}

export async function diffCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  if (args.length !== 2) throw new UsageError(`diff takes two trees (directories, builds, images or snapshot files), got ${args.length}`)
  const [a, b] = await Promise.all(args.map((source) => loadAnySnapshot(source, { signal })))
  const diff = diffSnapshots(a!, b!, { mtime: values.mtime ?? false })
  process.stdout.write(values.json ? `${diffToJson(diff)}\n` : `${formatDiff(diff)}\n`)
  return 0
}
