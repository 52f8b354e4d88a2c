/** Every step kind and the module that runs it; and what of a step goes into the stage's cache key. */
import { stat } from 'node:fs/promises'
import type { CustomizeStep } from '../recipe/types.ts'
import { sha256File, treeManifest } from '../system/walk.ts'
import { makeGroups, makeUsers } from './accounts.ts'
import { installPackages, removePackages } from './apt.ts'
import type { StepContext } from './context.ts'
import { copyStep, writeStep } from './files.ts'
import { runScript, runShellLine } from './shell.ts'
import { changeUnits } from './units.ts'

export async function runStep(step: CustomizeStep, ctx: StepContext): Promise<void> {
  switch (step.kind) {
    case 'packages':
      return installPackages(step, ctx)
    case 'remove':
      return removePackages(step, ctx)
    case 'run':
      return runShellLine(step, ctx)
    case 'script':
      return runScript(step, ctx)
    case 'copy':
      return copyStep(step, ctx)
    case 'write':
      return writeStep(step, ctx)
    case 'users':
      return makeUsers(step, ctx)
    case 'groups':
      return makeGroups(step, ctx)
    case 'enable':
    case 'disable':
    case 'mask':
      return changeUnits(step, ctx)
  }
}

/**
 * The step as its cache key sees it: every field but its place in the recipe (moving a step to
 * another line changes nothing), plus the contents of the files it copies or runs.
 */
export async function stepInputs(step: CustomizeStep): Promise<Record<string, unknown>> {
  const { at: _at, index: _index, ...fields } = step
  if (step.kind === 'script') return { ...fields, sha256: await sha256File(step.path) }
  if (step.kind !== 'copy') return fields
  const source = await stat(step.from)
  if (source.isDirectory()) return { ...fields, contents: await treeManifest(step.from) }
  return { ...fields, sha256: await sha256File(step.from), sourceMode: (source.mode & 0o7777).toString(8) }
}
