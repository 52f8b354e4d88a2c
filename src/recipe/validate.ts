/**
 * Turns what a recipe exports into a `Recipe`: every field checked at once, every problem reported
 * together in one `RecipeError`, defaults applied and paths made absolute.
 */
import { dirname, join, resolve } from 'node:path'
import { RecipeError } from '../errors.ts'
import { DEFAULT_KEEP, type CustomizeStep, type PublishTarget, type Recipe } from './types.ts'
import { locateSteps } from './locate.ts'
import { formatProblem, messageFor, problemsFromIssues, type Problem } from './problems.ts'
import { relationProblems } from './relations.ts'
import { oneFieldProblem, recipeSchema, type ParsedRecipe } from './schema.ts'

export interface ValidateOptions {
  /** Where builds go; the default publish targets are under `<outDir>/publish` (default `<cwd>/out`). */
  outDir?: string
}

const DEFAULT_HINT = 'every field is documented on RecipeInput; write the recipe as export default defineRecipe({ ... }) to see the docs in your editor'

/**
 * Checks `input` (a recipe's default export) as the recipe at `file`, whose folder relative paths
 * start from. Throws one `RecipeError` listing every problem.
 */
export function validateRecipe(input: unknown, file: string, options: ValidateOptions = {}): Recipe {
  const path = resolve(file)
  const parsed = recipeSchema(dirname(path)).safeParse(input, { error: messageFor })
  const outDir = resolve(options.outDir ?? 'out')
  const problems = [...(parsed.success ? defaultProblems(parsed.data, outDir) : problemsFromIssues(parsed.error.issues)), ...relationProblems(input)]
  if (!parsed.success || problems.length) throw recipeError(path, problems)
  return resolveRecipe(parsed.data, path, outDir)
}

function recipeError(file: string, problems: readonly Problem[]): RecipeError {
  const hints = [...new Set(problems.flatMap((p) => p.hint?.split('\n') ?? []))]
  return new RecipeError(file, problems.map(formatProblem), hints.length ? hints.join('\n') : DEFAULT_HINT)
}

/**
 * A default taken from another field must fit where it is written: `netboot.nfs.path` defaults to
 * the first target's `nfs` folder, which goes into every node's cmdline.txt as `nfsroot=`.
 */
function defaultProblems(parsed: ParsedRecipe, outDir: string): Problem[] {
  if (parsed.netboot.nfs.path !== undefined) return []
  const path = parsed.publish?.[0]?.nfs.path ?? defaultTarget(outDir).nfs.path
  const comma = path.includes(',') ? { problem: `${JSON.stringify(path)} contains a comma: nfsroot= would read what follows it as NFS mount options`, hint: 'rename the folder' } : undefined
  const bad = oneFieldProblem(path) ?? comma
  if (!bad) return []
  return [{ path: ['netboot', 'nfs', 'path'], message: `${bad.problem} (the default: publish[0].nfs's folder)`, hint: `${bad.hint}; or set netboot.nfs.path to the path the NFS server exports it as` }]
}

/** The defaults that depend on more than one field, or on where pibake runs. */
function resolveRecipe(parsed: ParsedRecipe, file: string, outDir: string): Recipe {
  const publish = parsed.publish ?? [defaultTarget(outDir)]
  const nfsPath = parsed.netboot.nfs.path ?? (publish[0] as PublishTarget).nfs.path
  const { interface: iface, shared, log } = parsed.netboot
  return {
    file,
    name: parsed.name,
    image: parsed.image,
    overlays: parsed.overlays,
    customize: resolveSteps(parsed.customize, file),
    netboot: {
      server: parsed.netboot.server,
      dhcp: parsed.netboot.dhcp,
      nfs: { server: parsed.netboot.nfs.server, path: nfsPath },
      ...(shared === undefined ? {} : { shared: { ...shared, rootSquash: shared.rootSquash ?? !shared.accounts } }),
      ...(iface === undefined ? {} : { interface: iface }),
      ...(log === undefined ? {} : { log }),
      ...(parsed.netboot.persist?.length ? { persist: parsed.netboot.persist } : {}),
      ...(parsed.netboot.root === undefined || parsed.netboot.root === 'nfs' ? {} : { root: parsed.netboot.root }),
      hostKeys: parsed.netboot.hostKeys,
    },
    nodes: parsed.nodes.map(({ serial, ip, memory, ...node }) => ({ ...node, ...(serial === undefined ? {} : { serial }), ...(ip === undefined ? {} : { ip }), ...(memory === undefined ? {} : { memory }) })),
    publish,
    ...(parsed.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: parsed.sourceDateEpoch }),
  }
}

/** Each step with its place in the list and in the recipe's source. */
function resolveSteps(steps: ParsedRecipe['customize'], file: string): CustomizeStep[] {
  const locations = locateSteps(file, steps)
  return steps.map((step, index): CustomizeStep => ({ ...step, index, at: locations[index] ?? { file } }))
}

function defaultTarget(outDir: string): PublishTarget {
  const local = (path: string) => ({ kind: 'local', path }) as const
  return { nfs: local(join(outDir, 'publish', 'nfs')), tftp: local(join(outDir, 'publish', 'tftp')), config: local(join(outDir, 'publish')), keep: { ...DEFAULT_KEEP }, reload: {} }
}
