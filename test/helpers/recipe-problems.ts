/** What validateRecipe refuses in a recipe written as `input`: its problems, one line each (the test fails if it is accepted). */
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { RecipeError } from '../../src/errors.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'

/** The recipe file the problems are said of: a valid fixture, so that only `input` is at fault. */
export const INLINE_RECIPE = join(import.meta.dirname, '../recipe/fixtures/valid/inline.ts')

export function recipeProblems(input: unknown, file = INLINE_RECIPE): readonly string[] {
  try {
    validateRecipe(input, file)
  } catch (error) {
    assert.instance(error, RecipeError)
    return (error as RecipeError).problems
  }
  assert.unreachable('the recipe was accepted')
  return []
}
