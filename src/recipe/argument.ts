/**
 * What a command's argument naming a recipe of the site means: the recipe's name as the site lists
 * it (`cluster-node`), or the path of a recipe file (`recipes/cluster-node.ts`), whose `name` it
 * takes. The one place that decides, for every command that names a published recipe.
 */
import { statSync } from 'node:fs'
import { extname, resolve } from 'node:path'
import { RecipeError, UsageError } from '../errors.ts'
import { isRecipeName } from '../site/names.ts'
import { importDefault } from './load.ts'
import { describe } from './problems.ts'

const EXTENSIONS = ['.ts', '.mts', '.js', '.mjs']
const HINT = 'give the name of a recipe the site lists (pibake site), e.g. cluster-node, or its recipe file, e.g. recipes/cluster-node.ts'

/**
 * The recipe name `argument` stands for. A name is taken as it is (recipe names have no "." or
 * "/", so no file is mistaken for one); a file is imported for its name only, so that a recipe
 * whose image is not there (yet, or any more) still names its builds.
 */
export async function recipeNameOf(argument: string): Promise<string> {
  if (isRecipeName(argument)) return argument
  const path = resolve(argument)
  const stat = statSync(path, { throwIfNoEntry: false })
  if (!stat) throw new UsageError(`${argument} is neither a recipe name nor a recipe file (${path} does not exist)`, HINT)
  if (!stat.isFile() || !EXTENSIONS.includes(extname(path))) {
    throw new UsageError(`${argument} is neither a recipe name nor a recipe file (${EXTENSIONS.join(', ')})`, HINT)
  }
  const name: unknown = (await importDefault(path) as { name?: unknown }).name
  if (!isRecipeName(name)) throw new RecipeError(path, [`name: ${describe(name)} is not a recipe name (lower-case letters, digits and "-", not starting with "-", at most 63 characters)`], HINT)
  return name
}
