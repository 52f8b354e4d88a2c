/**
 * `pibake init [--image FILE] [--name NAME] [--discover IF [--seconds N]] [-o FILE]`: writes a
 * starter recipe for a real image, then says how to go on.
 */
import { existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { UsageError } from '../errors.ts'
import { outDir, type Values } from './commands.ts'


export async function initCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  if (args.length) throw new UsageError(`pibake init takes no arguments, got ${args.join(' ')}`, 'pibake init --image FILE [--name NAME] [--discover IF] [-o FILE]')
  // The demo image (`pibake demo-image`, into <out>/demo) when none is named.
  const { demoImagePaths } = await import('../demo/build.ts')
  const demo = demoImagePaths(join(outDir(values), 'demo'), 'arm64').xz
  const image = values.image ?? (existsSync(demo) ? demo : undefined)
  if (!image) throw new UsageError('pibake init needs --image FILE', 'the Raspberry Pi OS image to bake (.img or .img.xz), e.g. --image 2025-05-13-raspios-bookworm-arm64-lite.img.xz')
  const seconds = values.seconds === undefined ? 30 : Number(values.seconds)
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) throw new UsageError(`--seconds must be a number of seconds (at most 3600), not "${values.seconds}"`)
  if (values.seconds !== undefined && !values.discover) throw new UsageError('--seconds is for --discover IF: how long to listen for Pis')
  const { init } = await import('../init/index.ts')
  if (!values.image) process.stderr.write(`pibake: no --image: writing a recipe for the demo image ${image}\n`)
  process.stderr.write(`pibake: reading ${image}${image.endsWith('.xz') ? ' (decompressed once into the build cache)' : ''}…\n`)
  if (values.discover) process.stderr.write(`pibake: listening ${seconds} s on UDP port 67 for Raspberry Pis asking for a boot on ${values.discover}; nothing is answered\n`)
  const result = await init({
    image,
    ...(values.name ? { name: values.name } : {}),
    ...(values.output ? { file: values.output } : {}),
    outDir: outDir(values),
    ...(values.discover ? { discover: { interface: values.discover, seconds } } : {}),
    signal,
  })
  const file = relative(process.cwd(), result.file) || result.file
  const said = result.server.interface ? `guessed from ${result.server.interface}` : 'an example: this host has no IPv4 address but loopback'
  process.stdout.write(
    [
      `pibake: wrote ${file}: ${result.image.arch}, ${result.image.release ?? 'release unknown'}, boot on ${result.image.bootMount}; server ${result.server.address} (${said})`,
      'next:',
      `  edit ${file}: the lines marked GUESS and EXAMPLE`,
      `  pibake plan ${file}`,
      `  pibake build ${file}`,
      '',
    ].join('\n'),
  )
  return 0
}
