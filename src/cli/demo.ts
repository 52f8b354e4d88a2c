import { buildDemoImage } from '../demo/build.ts'
import { UsageError } from '../errors.ts'
import { outDir, type Values } from './commands.ts'
import { join } from 'node:path'

export async function demoCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  if (args.length) throw new UsageError(`demo-image takes no arguments, got ${args.join(' ')}`)
  const arch = values.arch ?? 'arm64'
  if (!['arm64', 'armhf', 'all'].includes(arch)) throw new UsageError(`--arch ${arch}: expected arm64, armhf or all`)
  const archs = arch === 'all' ? (['arm64', 'armhf'] as const) : ([arch as 'arm64' | 'armhf'] as const)
  for (const a of archs) {
    const image = await buildDemoImage({
      arch: a,
      outDir: join(outDir(values), 'demo'),
      signal,
      force: values.force ?? false,
      onLine: (line) => process.stderr.write(`demo-${a} | ${line}\n`),
    })
    process.stderr.write(`pibake: demo image ${image.cached ? '(cached) ' : ''}${image.xz}\n  sha256 ${image.sha256}\n`)
  }
  return 0
}
