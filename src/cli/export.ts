import { UsageError } from '../errors.ts'
import { exportBuild } from '../tarball/export.ts'
import { oneArgument, outDir, type Values } from './commands.ts'

export async function exportCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  const source = oneArgument(args, 'a recipe file or a build folder')
  if (!values.output) throw new UsageError('export needs -o FILE (root.tar.zst, root.tar.xz or root.tar)')
  const exported = await exportBuild(source, { output: values.output, outDir: outDir(values), signal, ...sourceDateEpoch() })
  const clamp = exported.clamp === undefined ? 'times as they are' : `times clamped to ${new Date(exported.clamp * 1000).toISOString()}`
  process.stderr.write(`pibake: ${exported.root}${exported.boot ? ` and its boot files (${exported.boot})` : ''} written to ${exported.file}, ${clamp}\n`)
  return 0
}

/** SOURCE_DATE_EPOCH, the reproducible-builds convention: the time later times are clamped to. */
function sourceDateEpoch(): { clamp?: number } {
  const text = process.env.SOURCE_DATE_EPOCH
  if (text === undefined || text === '') return {}
  if (!/^\d+$/.test(text)) throw new UsageError(`SOURCE_DATE_EPOCH=${JSON.stringify(text)} is not a number of seconds since 1970`, 'set it to e.g. $(date +%s), or unset it to use the build\'s time')
  return { clamp: Number(text) }
}
