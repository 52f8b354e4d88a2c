/**
 * `pibake serve [--out DIR | --target DIR] [--listen ADDR:PORT] [--log FILE]`: the site in a
 * browser; `pibake report <recipe> [-o FILE]`: its build view as one HTML file.
 */
import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { UsageError } from '../errors.ts'
import { DEFAULT_LISTEN, parseListen } from '../web/guard.ts'
import { outDir, oneArgument, type Values } from './commands.ts'
import { siteFromOptions } from './site.ts'

export async function serveCommand(args: readonly string[], values: Values, signal: AbortSignal): Promise<number> {
  if (args.length) throw new UsageError(`pibake serve takes no arguments, got ${args.join(' ')}`, 'choose the site with --target DIR or --out DIR')
  const { serve } = await import('../web/serve.ts')
  const listen = values.listen ?? DEFAULT_LISTEN
  // serve() makes this run's token; the URL printed here is the only way in (src/web/guard.ts).
  const serving = await serve({ site: siteFromOptions(values), outDir: outDir(values), listen, ...(values.log ? { dnsmasqLog: resolve(values.log) } : {}) })
  process.stdout.write(`pibake: serving the site at ${serving.url}\n`)
  process.stdout.write('pibake: open that URL once (it holds this run\'s token, keep it to yourself); the page then keeps the token in a cookie\n')
  if (!parseListen(listen).loopback) process.stdout.write(`pibake: ${listen} is not a loopback address and the page is plain HTTP: anyone on the network path can read the token\n`)
  process.stdout.write('pibake: Ctrl-C stops it (and any build started from the page)\n')
  await new Promise((done) => signal.addEventListener('abort', done, { once: true }))
  await serving.close()
  return 0
}

export async function reportCommand(args: readonly string[], values: Values): Promise<number> {
  const recipe = oneArgument(args, 'the name of a recipe of the site')
  const { report } = await import('../web/report.ts')
  const site = siteFromOptions(values)
  try {
    const file = resolve(values.output ?? `${recipe}-report.html`)
    await writeFile(file, await report(recipe, { site, outDir: outDir(values) }))
    process.stdout.write(`pibake: wrote ${file}\n`)
    return 0
  } finally {
    await site.hosts.close()
  }
}
