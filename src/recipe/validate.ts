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
import { defaultTierDestinations, nfsServersOf, resolveTier, tierProblems } from './nfs-tier.ts'
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
  const problems = [...(parsed.success ? [...defaultProblems(parsed.data, outDir), ...tierProblems(parsed.data)] : problemsFromIssues(parsed.error.issues)), ...relationProblems(input)]
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
  const several = Array.isArray(parsed.netboot.nfs)
  const first = parsed.publish?.[0] ?? defaultTarget(outDir, parsed)
  return nfsServersOf(parsed).flatMap((server, i) => {
    if (server.path !== undefined) return []
    const path = (first.nfsTier?.[i] ?? first.nfs).path
    const comma = path.includes(',') ? { problem: `${JSON.stringify(path)} contains a comma: nfsroot= would read what follows it as NFS mount options`, hint: 'rename the folder' } : undefined
    const bad = oneFieldProblem(path) ?? comma
    if (!bad) return []
    const at = several ? ['netboot', 'nfs', i, 'path'] : ['netboot', 'nfs', 'path']
    return [{ path: at, message: `${bad.problem} (the default: publish[0].nfs's folder)`, hint: `${bad.hint}; or set netboot.nfs.path to the path the NFS server exports it as` }]
  })
}

/** The defaults that depend on more than one field, or on where pibake runs. */
function resolveRecipe(parsed: ParsedRecipe, file: string, outDir: string): Recipe {
  const publish = parsed.publish ?? [defaultTarget(outDir, parsed)]
  const tier = resolveTier(nfsServersOf(parsed), publish[0] as PublishTarget)
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
      nfs: tier[0]!,
      ...(tier.length > 1 ? { nfsTier: tier } : {}),
      ...(shared === undefined ? {} : { shared: { ...shared, rootSquash: shared.rootSquash ?? !shared.accounts } }),
      ...(iface === undefined ? {} : { interface: iface }),
      ...(log === undefined ? {} : { log }),
      ...(parsed.netboot.persist?.length ? { persist: parsed.netboot.persist } : {}),
      ...(parsed.netboot.root === undefined || parsed.netboot.root === 'nfs' ? {} : { root: parsed.netboot.root }),
      ...(parsed.netboot.shrinkBoot ? { shrinkBoot: true as const } : {}),
      ...(parsed.netboot.bootLinkMbps === undefined ? {} : { bootLinkMbps: parsed.netboot.bootLinkMbps }),
      ...(parsed.netboot.pi3Server === undefined ? {} : { pi3Server: parsed.netboot.pi3Server }),
      hostKeys: parsed.netboot.hostKeys,
    },
    nodes: parsed.nodes.map(({ serial, ip, memory, nfs, ...node }) => ({ ...node, ...(serial === undefined ? {} : { serial }), ...(ip === undefined ? {} : { ip }), ...(memory === undefined ? {} : { memory }), ...(nfs === undefined ? {} : { nfs }) })),
    publish,
    ...(parsed.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: parsed.sourceDateEpoch }),
  }
}

/** Each step with its place in the list and in the recipe's source. */
function resolveSteps(steps: ParsedRecipe['customize'], file: string): CustomizeStep[] {
  const locations = locateSteps(file, steps)
  return steps.map((step, index): CustomizeStep => ({ ...step, index, at: locations[index] ?? { file } }))
}

function defaultTarget(outDir: string, parsed: ParsedRecipe): PublishTarget {
  const local = (path: string) => ({ kind: 'local', path }) as const
  const servers = nfsServersOf(parsed)
  const tier = servers.length > 1 ? defaultTierDestinations(outDir, servers) : undefined
  const nfs = tier ? { nfs: tier[0]!, nfsTier: tier } : { nfs: local(join(outDir, 'publish', 'nfs')) }
  return { ...nfs, tftp: local(join(outDir, 'publish', 'tftp')), config: local(join(outDir, 'publish')), keep: { ...DEFAULT_KEEP }, reload: {} }
}
