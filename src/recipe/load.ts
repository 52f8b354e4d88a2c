/**
 * Loads a recipe file: imports the TypeScript module with Node's own type stripping, takes its
 * default export and validates it. Every way that can fail says which file, which line and what to do.
 *
 * A recipe may live anywhere (`/etc/pibake/workers.ts`, a site repository without node_modules):
 * its `import … from 'pibake'` is resolved to the pibake that is running, by a module resolution
 * hook, so recipe and builder can never be two different versions.
 */
import { statSync } from 'node:fs'
import { registerHooks } from 'node:module'
import { resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { PibakeError, RecipeError } from '../errors.ts'
import { SELF_INDEX_URL } from '../self.ts'
import { describe } from './problems.ts'
import type { Recipe } from './types.ts'
import { validateRecipe, type ValidateOptions } from './validate.ts'

export type LoadOptions = ValidateOptions

const SHAPE_HINT = "a recipe ends with: export default defineRecipe({ ... }), defineRecipe imported from 'pibake'"

/** Loads, validates and resolves the recipe at `file` (relative to the current directory). */
export async function loadRecipe(file: string, options: LoadOptions = {}): Promise<Recipe> {
  const path = resolve(file)
  return validateRecipe(await importDefault(path), path, options)
}

let resolvingSelf = false

/**
 * From now on, `import … from 'pibake'` in any module of this process (a recipe, a file it imports)
 * is the running pibake's own entry module, whether or not a node_modules near the recipe has one.
 */
export function resolvePibakeToSelf(): void {
  if (resolvingSelf) return
  resolvingSelf = true
  registerHooks({
    resolve: (specifier, context, nextResolve) => (specifier === 'pibake' ? { url: SELF_INDEX_URL, shortCircuit: true } : nextResolve(specifier, context)),
  })
}

/** The default export of the recipe module at `path` (absolute), an object; not validated. */
export async function importDefault(path: string): Promise<object> {
  const stat = statSync(path, { throwIfNoEntry: false })
  if (!stat) throw new PibakeError(`recipe ${path} does not exist`, 'give the path of a recipe file, e.g. recipes/cluster-node.ts')
  if (!stat.isFile()) throw new PibakeError(`recipe ${path} is not a file`, 'give the path of a recipe file, e.g. recipes/cluster-node.ts')
  resolvePibakeToSelf()
  let module: Record<string, unknown>
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>
  } catch (error) {
    throw importError(path, error)
  }
  if (!('default' in module)) throw new RecipeError(path, ['it has no default export'], SHAPE_HINT)
  const value = module.default
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RecipeError(path, [`its default export is ${describe(value)}, not a recipe object`], SHAPE_HINT)
  }
  return value
}

/** What went wrong while Node parsed or ran the recipe module, with the line it happened at. */
function importError(path: string, error: unknown): RecipeError {
  if (!(error instanceof Error)) return new RecipeError(path, [`loading it threw ${describe(error)}`])
  const code = (error as NodeJS.ErrnoException).code
  if (error instanceof SyntaxError) {
    const { line, excerpt } = syntaxLocation(error, path)
    const where = line === undefined ? '' : ` at line ${line}`
    return new RecipeError(path, [`syntax error${where}: ${error.message}${excerpt}`], syntaxHint(code))
  }
  const where = throwLocation(error, path)
  const problem = `loading it threw ${error.name}: ${error.message}${where ? ` (at ${where})` : ''}`
  const recipeError = new RecipeError(path, [problem], loadHint(code, error.message))
  recipeError.cause = error
  return recipeError
}

function syntaxHint(code: string | undefined): string {
  if (code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') {
    return 'Node runs recipes by stripping their types, so a recipe can only use erasable TypeScript: no enum, namespace, parameter properties or <T>value casts (write value as T)'
  }
  return 'fix the syntax at the line shown'
}

function loadHint(code: string | undefined, message: string): string {
  if (code === 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING') {
    return 'Node does not strip types from TypeScript files under node_modules: keep the recipe and the .ts files it imports outside node_modules'
  }
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
    return 'Node ran the recipe module and it threw: fix the line shown'
  }
  // 'pibake' itself always resolves (resolvePibakeToSelf): what is missing is a subpath of it.
  if (message.includes("'pibake'")) return "import from 'pibake' itself (import { defineRecipe } from 'pibake'): the package has no subpaths"
  return 'the recipe imports a module that cannot be found; imports of local files need their .ts extension'
}

/**
 * Node puts a syntax error's place at the top of its stack: `<file>:<line>`, then an excerpt of the
 * source marking the fault (a caret line, or `>` in the margin), then a blank line.
 */
function syntaxLocation(error: SyntaxError, path: string): { line?: number; excerpt: string } {
  const [first = '', ...rest] = (error.stack ?? '').split('\n')
  const match = /^(.*):(\d+)$/.exec(first)
  if (!match?.[1] || toPath(match[1]) !== path) return { excerpt: '' }
  const end = rest.findIndex((l) => l.trim() === '')
  const excerpt = rest.slice(0, Math.min(end < 0 ? rest.length : end, 8))
  return { line: Number(match[2]), excerpt: excerpt.map((l) => `\n      ${l}`).join('') }
}

/** `file:line:column` of the innermost stack frame in the recipe (or, failing that, in a file it imports). */
function throwLocation(error: Error, path: string): string | undefined {
  const frames = [...(error.stack ?? '').matchAll(/(?:\(|at )((?:file:\/\/)?\/[^\s()]*):(\d+):(\d+)\)?$/gm)]
  const places = frames.map((m) => ({ file: toPath(m[1] ?? ''), line: m[2], column: m[3] }))
  const place = places.find((p) => p.file === path) ?? places.find((p) => !p.file.includes('/node_modules/'))
  return place && `${place.file}:${place.line}:${place.column}`
}

function toPath(fileOrUrl: string): string {
  return fileOrUrl.startsWith('file://') ? fileURLToPath(fileOrUrl) : fileOrUrl
}
