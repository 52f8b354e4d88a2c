/**
 * The command line: parses arguments, imports the command it names, shows its events, maps errors
 * to exit codes. The only place that calls process.exit.
 */
import { parseArgs } from 'node:util'
import { InterruptedError, PibakeError, RecipeError, SiteConflictError, UsageError, indent } from './errors.ts'

const USAGE = `pibake: bake Raspberry Pi OS images into diskless network-boot systems

usage:
  pibake build <recipe.ts> [--out DIR] [--from STAGE] [--force] [--skip STAGE]… [--refresh] [--take] [--json | --plain]
  pibake plan <recipe.ts> [--out DIR] [--json]      verify everything, show which stages are cached
  pibake nodes <recipe.ts> [--out DIR] [--json]     the fleet: MAC, serial, IP, model, TFTP directory, build
  pibake snapshot <dir|build|image.img|snap.json> [-o FILE]
  pibake diff <a> <b> [--json] [--mtime]           what was added, removed and changed between two trees
  pibake demo-image [--arch arm64|armhf|all] [--release bookworm|trixie] [--out DIR] [--force]
  pibake clean [--out DIR]                          undo what a killed run left (mounts, loop devices)
  pibake site [--out DIR | --target DIR] [--json]   the site's recipes, the build each node boots, the builds kept
  pibake rollback <recipe> [--to ID] [--out DIR | --target DIR] [--json]
                                                    switch a recipe and its nodes back to an earlier build
  pibake unpublish <recipe> [--out DIR | --target DIR] [--json]
                                                    take a recipe off the site: server config first, then its files
  pibake gc [<recipe>] [--keep-builds N] [--keep-days N] [--dry-run] [--out DIR | --target DIR] [--json]
                                                    remove builds no node can still be running
  pibake discover --interface IF [--seconds N] [--log FILE] [--recipe FILE]… [--out DIR] [--json]
                                                    Raspberry Pis asking for a boot that the site does not know

Stages: image, extract, overlay, customize, netboot, publish.  Exit status: 0 ok, 1 failed, 2 bad usage or recipe, 130 interrupted.`

const OPTIONS = {
  out: { type: 'string' },
  from: { type: 'string' },
  force: { type: 'boolean' },
  skip: { type: 'string', multiple: true },
  refresh: { type: 'boolean' },
  json: { type: 'boolean' },
  plain: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  mtime: { type: 'boolean' },
  arch: { type: 'string' },
  interface: { type: 'string' },
  seconds: { type: 'string' },
  log: { type: 'string' },
  recipe: { type: 'string', multiple: true },
  release: { type: 'string' },
  target: { type: 'string' },
  to: { type: 'string' },
  take: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'keep-days': { type: 'string' },
  'keep-builds': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

export type CliOptions = typeof OPTIONS

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true })
  const [command, ...args] = positionals
  if (values.help || !command) {
    console.log(USAGE)
    return command || values.help ? 0 : 2
  }
  const controller = new AbortController()
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return process.stderr.write('pibake: still undoing mounts and loop devices, please wait\n')
    process.stderr.write(`\npibake: ${signal}: stopping, undoing everything this run set up…\n`)
    controller.abort(new InterruptedError(signal))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const { runCommand } = await import('./cli/commands.ts')
  const { 'dry-run': dryRun, 'keep-days': keepDays, 'keep-builds': keepBuilds, ...rest } = values
  return runCommand(command, args, { ...rest, dryRun, keepDays, keepBuilds }, controller.signal)
}

function report(error: unknown): number {
  if (error instanceof InterruptedError) {
    process.stderr.write(`pibake: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ''}`)
    return 130
  }
  if (error instanceof PibakeError) {
    process.stderr.write(`pibake: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ''}`)
    return error instanceof RecipeError || error instanceof UsageError || error instanceof SiteConflictError ? 2 : 1
  }
  if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`pibake: ${error.message}\n\n${USAGE}\n`)
    return 2
  }
  process.stderr.write(`pibake: unexpected error (a bug in pibake, please report it):\n${indent(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`)
  return 1
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => process.exit(report(error)),
)
