/** `pibake sbom <recipe | recipe.ts | build folder> [--format spdx|cyclonedx]`: prints a build's SBOM. */
import { statSync } from 'node:fs'
import { UsageError } from '../errors.ts'
import { recipeNameOf } from '../recipe/argument.ts'
import { SBOM_FORMATS, isSbomFormat, type SbomFormat } from '../sbom/files.ts'
import { findPackage } from '../sbom/query.ts'
import { buildDirSbom, recipeSbom } from '../sbom/read.ts'
import type { Site } from '../site/store.ts'
import { oneArgument, type Values } from './commands.ts'
import { siteFromOptions } from './site.ts'

export async function sbomCommand(args: readonly string[], values: Values): Promise<number> {
  const argument = oneArgument(args, 'a recipe of the site (its name or its file) or a published build folder')
  const format = sbomFormat(values.format)
  if (statSync(argument, { throwIfNoEntry: false })?.isDirectory()) {
    await print(await buildDirSbom(argument, format))
    return 0
  }
  const site = siteFromOptions(values)
  try {
    await print((await recipeSbom(site, await recipeNameOf(argument), format, values.to)).text)
  } finally {
    await site.hosts.close()
  }
  return 0
}

/** Writes `text` to stdout and waits until it is taken: the CLI exits right after, which would cut a long document short on a pipe. */
function print(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())))
}

function sbomFormat(text: string | undefined): SbomFormat {
  if (text === undefined) return 'spdx'
  if (isSbomFormat(text)) return text
  throw new UsageError(`--format ${text}: expected ${SBOM_FORMATS.join(' or ')}`, 'spdx is SPDX 2.3 JSON, cyclonedx is CycloneDX 1.6 JSON')
}

/** `pibake site --package P`: the builds holding package P, its version there, and the nodes booting them. */
export async function packageCommand(site: Site, name: string, values: Values): Promise<number> {
  if (!/^[a-z0-9][a-z0-9+.-]*$/.test(name)) throw new UsageError(`--package ${JSON.stringify(name)}: not a Debian package name`, 'lower-case letters, digits, +, - and ., e.g. --package openssl')
  const result = await findPackage(site, name)
  if (values.json) {
    await print(`${JSON.stringify(result)}\n`)
    return 0
  }
  if (!result.builds.length) process.stdout.write(`no build of ${site.files.describe(site.config)} contains ${name}\n`)
  for (const b of result.builds) {
    process.stdout.write(`${b.recipe} ${b.build}${b.live ? ' (live)' : ''}: ${b.package} ${b.version} ${b.arch} (source ${b.source} ${b.sourceVersion}); nodes on it: ${b.nodes.join(', ') || 'none'}\n`)
  }
  for (const u of result.unknown) process.stdout.write(`${u.recipe} ${u.build}: not known (${u.why})\n`)
  return 0
}
