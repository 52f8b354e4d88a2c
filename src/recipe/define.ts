import type { RecipeInput } from './types.ts'

/**
 * Declares a recipe. It returns its argument unchanged: its use is to give editors the recipe's
 * types and documentation. A recipe file ends with `export default defineRecipe({ ... })`.
 */
export function defineRecipe(input: RecipeInput): RecipeInput {
  return input
}
