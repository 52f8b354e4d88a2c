#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * The command line: parses arguments, imports the command it names, shows its events, maps errors
 * to exit codes. The only place that calls process.exit.
 */
import { parseArgs } from 'node:util'
import type { Values } from './cli/commands.ts'
import { OPTIONS } from './cli/options.ts'
import { enablePibakeCompileCache } from './system/compile-cache.ts'
import { InterruptedError, PibakeError, RecipeError, SiteConflictError, UsageError, indent } from './errors.ts'

// The commands' modules (imported below, when a command runs) are compiled once and kept.
enablePibakeCompileCache()

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true })
  const [command, ...args] = positionals
  if (values.version) return print((await import('./self.ts')).selfVersion())
  if (command === 'help' || values.help || !command) return help(command === 'help' ? args[0] : command, !!command || !!values.help)
  const controller = new AbortController()
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return process.stderr.write('pibake: still undoing mounts and loop devices, please wait\n')
    process.stderr.write(`\npibake: ${signal}: stopping, undoing everything this run set up…\n`)
    controller.abort(new InterruptedError(signal))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // The terminal or SSH session went away: stop as for Ctrl-C (a build undoes its mounts, try
  // removes its namespaces), and let writes to the gone terminal fail quietly meanwhile.
  process.on('SIGHUP', onSignal)
  for (const stream of [process.stdout, process.stderr]) stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'EIO') throw error
  })
  const { runCommand } = await import('./cli/commands.ts')
  // --keep-days becomes keepDays, and so on.
  const named = Object.fromEntries(Object.entries(values).map(([key, value]) => [key.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()), value])) as Values
  return runCommand(command, args, named, controller.signal)
}

/** The overview, or one command's help; asked for (status 0) or shown for want of a command (status 2). */
async function help(command: string | undefined, asked: boolean): Promise<number> {
  const { USAGE, commandHelp } = await import('./cli/help.ts')
  const text = command === undefined ? USAGE : commandHelp(command)
  if (text === undefined) throw new UsageError(`unknown command "${command}"`, 'pibake --help lists the commands')
  print(text)
  return asked ? 0 : 2
}

function print(text: string): number {
  process.stdout.write(`${text}\n`)
  return 0
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
    process.stderr.write(`pibake: ${error.message}\nhint: pibake --help lists the commands, pibake <command> --help a command's options\n`)
    return 2
  }
  process.stderr.write(`pibake: unexpected error (a bug in pibake, please report it):\n${indent(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`)
  return 1
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => process.exit(report(error)),
)
