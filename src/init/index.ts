/**
 * `pibake init`: a starter recipe for a real image, written so that `pibake plan` passes on it as
 * it is. Reads the image (sha256, arch, boot layout, release), guesses the boot server from this
 * host's addresses, and takes the nodes from `pibake discover` when asked. Never overwrites a file.
 */
import { mkdir, open } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import { PibakeError, UsageError } from '../errors.ts'
import { discover } from '../site/discover.ts'
import { isRecipeName } from '../site/names.ts'
import { guessServer, type ServerGuess } from './host.ts'
import { inspectImage, type ImageFacts } from './inspect.ts'
import { renderRecipe, type NodeEntry, type RecipeChoices } from './render.ts'

export interface InitOptions {
  /** The image the recipe bakes (`.img` or `.img.xz`). */
  readonly image: string
  /** The recipe's name (default: from the image's file name). */
  readonly name?: string
  /** The recipe file to write (default `recipes/<name>.ts` under the current folder). */
  readonly file?: string
  /** pibake's out folder: its cache keeps the image's sha256 and decompressed copy for the first build. */
  readonly outDir: string
  /** Listen on this interface for Pis asking for a boot, and write them as the nodes. */
  readonly discover?: { readonly interface: string; readonly seconds: number; readonly known?: ReadonlySet<string> }
  readonly signal: AbortSignal
  /** Where the boot server is guessed from (tests give their own). */
  readonly server?: ServerGuess
}

export interface InitResult {
  readonly file: string
  readonly text: string
  readonly image: ImageFacts
  readonly server: ServerGuess
}

export async function init(options: InitOptions): Promise<InitResult> {
  const name = options.name ?? nameFromImage(options.image)
  if (!isRecipeName(name)) {
    throw new UsageError(`--name ${JSON.stringify(name)} is not a recipe name`, 'lower-case letters, digits and "-", not starting with "-", at most 63 characters')
  }
  const file = resolve(options.file ?? `recipes/${name}.ts`)
  // Refused before the image is read (minutes for a large .xz), and again by the exclusive create.
  await refuseExisting(file)
  const image = await inspectImage(options.image, { cache: resolve(options.outDir, 'cache'), signal: options.signal })
  const server = options.server ?? guessServer()
  const choices: RecipeChoices = { name, file, image, server, ...(options.discover ? { discovered: await listen(options.discover, options.signal) } : {}) }
  const text = renderRecipe(choices)
  await mkdir(dirname(file), { recursive: true })
  const handle = await open(file, 'wx').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') throw exists(file)
    throw error
  })
  try {
    await handle.writeFile(text)
  } finally {
    await handle.close()
  }
  return { file, text, image, server }
}

/** `raspios-demo-armhf.img.xz` → `raspios-demo-armhf`; `2025-05-13-raspios-bookworm-arm64-lite.img.xz` → `raspios-bookworm-arm64-lite`. */
export function nameFromImage(image: string): string {
  const stem = basename(image).replace(/\.xz$/, '').replace(/\.img$/, '').toLowerCase()
  const name = stem.replace(/^\d{4}-\d{2}-\d{2}-/, '').replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '')
  return name || 'fleet'
}

async function refuseExisting(file: string): Promise<void> {
  const handle = await open(file, 'r').catch(() => undefined)
  if (handle) {
    await handle.close()
    throw exists(file)
  }
}

function exists(file: string): PibakeError {
  return new UsageError(`${file} exists: pibake init never overwrites a recipe`, 'give another --name, or -o FILE for another file')
}

async function listen(options: NonNullable<InitOptions['discover']>, signal: AbortSignal): Promise<NonNullable<RecipeChoices['discovered']>> {
  const found = await discover({ interface: options.interface, seconds: options.seconds, known: new Set(options.known ?? []), signal, source: { kind: 'socket' } })
  const nodes: NodeEntry[] = found
    .filter((node) => node.netboot)
    .map((node) => ({
      hostname: node.hostname,
      mac: node.mac,
      model: node.model,
      ...(node.serial ? { serial: node.serial } : {}),
      comment: `${node.mac}: model ${node.model} (${node.modelCertainty}: ${node.modelHow})`,
    }))
  return { interface: options.interface, seconds: options.seconds, nodes }
}
