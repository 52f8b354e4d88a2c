/**
 * A command that runs a recipe (`build`, `plan`, `nodes`, `try`) given the recipe's name instead of
 * its file: the file its site record names, on this machine. The record is data on disk, so the file
 * passes the same checks as one the page would build (src/web/recipe-file.ts): pibake runs it as root.
 */
import { PibakeError, UsageError } from '../errors.ts'
import { recipeNameOf } from '../recipe/argument.ts'
import { isRecipeName } from '../site/names.ts'
import { readRecord } from '../site/store.ts'
import { trustedRecipeFile } from '../web/recipe-file.ts'
import type { Values } from './commands.ts'
import { siteFromOptions } from './site.ts'

/** `argument` when it is a file's path (recipe names have no "." or "/"); else the named recipe's file. */
export async function recipeFileOf(argument: string, values: Values): Promise<string> {
  if (!isRecipeName(argument)) return argument
  const site = siteFromOptions(values)
  const record = await readRecord(site, argument)
  if (!record) {
    throw new UsageError(`no recipe named ${argument} is published at ${site.config}, and it is not a recipe file`, 'give the recipe file (recipes/<name>.ts), or choose the site with --out DIR or --target DIR')
  }
  const file = await trustedRecipeFile(record, 'command')
  const named = await recipeNameOf(file)
  if (named !== argument) throw new PibakeError(`the site's record of ${argument} names ${file}, whose recipe is ${named}`, 'give the recipe file itself')
  return file
}
