import { buildDemoImage } from '../demo/build.ts'
import { DEFAULT_RELEASE, DEMO_RELEASES, demoStem, type DemoRelease } from '../demo/release.ts'
import { UsageError } from '../errors.ts'
import { outDir, type Values } from './commands.ts'
import { join } from 'node:path'

export async function demoCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  if (args.length) throw new UsageError(`demo-image takes no arguments, got ${args.join(' ')}`)
  const arch = values.arch ?? 'arm64'
  if (!['arm64', 'armhf', 'all'].includes(arch)) throw new UsageError(`--arch ${arch}: expected arm64, armhf or all`)
  const release = values.release ?? DEFAULT_RELEASE
  if (!(DEMO_RELEASES as readonly string[]).includes(release)) throw new UsageError(`--release ${release}: expected ${DEMO_RELEASES.join(' or ')}`)
  const archs = arch === 'all' ? (['arm64', 'armhf'] as const) : ([arch as 'arm64' | 'armhf'] as const)
  for (const a of archs) {
    const image = await buildDemoImage({
      arch: a,
      release: release as DemoRelease,
      outDir: join(outDir(values), 'demo'),
      signal,
      force: values.force ?? false,
      onLine: (line) => process.stderr.write(`${demoStem(release as DemoRelease, a).replace(/^raspios-/, '')} | ${line}\n`),
    })
    process.stderr.write(`pibake: demo image ${image.cached ? '(cached) ' : ''}${image.xz}\n  sha256 ${image.sha256}\n`)
  }
  return 0
}
