/**
 * The systemd units of a scheduled build, as text: `pibake-<recipe>.service` runs the build once
 * (absolute paths only: this node, this pibake, the recipe, the out folder), `pibake-<recipe>.timer`
 * starts it on the calendar. Pure functions: writing them is `install.ts`'s business.
 */
import { UsageError } from '../errors.ts'

/** Everything a scheduled build is made of, every path absolute. */
export interface ScheduleSpec {
  /** The recipe's name: the units are `pibake-<recipe>.service` and `.timer`. */
  readonly recipe: string
  readonly recipeFile: string
  /** The Node.js binary that runs pibake. */
  readonly node: string
  /** pibake's command-line script. */
  readonly cli: string
  readonly out: string
  /** A systemd calendar spec (`daily`, `Sun *-*-* 03:30`). */
  readonly onCalendar: string
  readonly refresh: boolean
  readonly upgrade: boolean
  /** pibake's version, noted in the units. */
  readonly version: string
}

/** The first line of every unit pibake writes: removal and rewriting touch only files that carry it. */
export const MARKER = '# Written by pibake schedule'

/** How long a run may be late, so that machines on the same schedule don't all ask the mirrors at once. */
export const RANDOMIZED_DELAY = '15min'

/** A build that hangs (a mirror that never answers) is stopped after this, so the next run can start. */
export const TIMEOUT_START = '6h'

/** How long pibake has after SIGTERM to stop its commands and undo its mounts and loop devices. */
export const TIMEOUT_STOP = '10min'

export function unitName(recipe: string): string {
  return `pibake-${recipe}`
}

/** The command the service runs: the same build a person would run, with the labelled-lines output the journal keeps. */
export function buildArgv(spec: ScheduleSpec): string[] {
  return [spec.node, spec.cli, 'build', spec.recipeFile, '--out', spec.out, '--plain', ...(spec.refresh ? ['--refresh'] : []), ...(spec.upgrade ? ['--upgrade'] : [])]
}

export function renderService(spec: ScheduleSpec): string {
  const name = unitName(spec.recipe)
  return lines(
    `${MARKER} (pibake ${spec.version}) for the recipe ${oneLine(spec.recipeFile)}.`,
    `# Started by ${name}.timer. Remove both with: pibake schedule --remove ${oneLine(spec.recipeFile)}`,
    '[Unit]',
    `Description=pibake: rebuild and publish ${spec.recipe}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${execLine(buildArgv(spec))}`,
    '# A build yields the processor and the disks to everything else on this machine.',
    'Nice=10',
    'CPUSchedulingPolicy=batch',
    'IOSchedulingClass=idle',
    `TimeoutStartSec=${TIMEOUT_START}`,
    '# On stop, SIGTERM goes to pibake alone, which stops its commands and undoes its mounts and',
    '# loop devices (never publishing a half-made build); what is left after TimeoutStopSec is killed.',
    'KillMode=mixed',
    `TimeoutStopSec=${TIMEOUT_STOP}`,
    `SyslogIdentifier=${name}`,
  )
}

export function renderTimer(spec: ScheduleSpec): string {
  const name = unitName(spec.recipe)
  return lines(
    `${MARKER} (pibake ${spec.version}) for the recipe ${oneLine(spec.recipeFile)}.`,
    '[Unit]',
    `Description=pibake: rebuild ${spec.recipe} on a schedule`,
    '',
    '[Timer]',
    `OnCalendar=${spec.onCalendar}`,
    '# A run missed while the machine was off happens at the next boot.',
    'Persistent=true',
    `RandomizedDelaySec=${RANDOMIZED_DELAY}`,
    `Unit=${name}.service`,
    '',
    '[Install]',
    'WantedBy=timers.target',
  )
}

/** An `ExecStart=` value that runs exactly `argv` (systemd.service(5), "Command lines"). */
export function execLine(argv: readonly string[]): string {
  return argv.map((arg, i) => systemdQuote(arg, i === 0)).join(' ')
}

/**
 * One word of a command line: as it is when it holds nothing systemd reads specially, else in
 * double quotes with `\` and `"` escaped; `%` (specifiers) doubled, and `$` (variables) doubled
 * in the arguments, not in the program's path, which systemd does not expand.
 */
export function systemdQuote(arg: string, program = false): string {
  assertOneLine(arg)
  if (/^[\w@+=:,./-]+$/.test(arg)) return arg
  const escaped = arg.replace(/[\\"]/g, (c) => `\\${c}`).replace(program ? /%/g : /[%$]/g, (c) => c + c)
  return `"${escaped}"`
}

/** Refuses text that would end a line of a unit file (and so could add settings to it). */
export function assertOneLine(text: string): void {
  if (/[\x00-\x1f\x7f]/.test(text)) throw new UsageError(`${JSON.stringify(text)} holds a control character, which a unit file cannot carry`)
}

/** Text for a comment line: one line, as it is. */
function oneLine(text: string): string {
  assertOneLine(text)
  return text
}

function lines(...all: string[]): string {
  return `${all.join('\n')}\n`
}
