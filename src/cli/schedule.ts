/**
 * `pibake schedule <recipe.ts> --on-calendar SPEC [--unit-dir DIR] [--refresh] [--upgrade] [--print]`
 * and `pibake schedule --remove <recipe.ts | name>`: a systemd service and timer that rebuild a recipe.
 */
import { shellQuote, UsageError } from '../errors.ts'
import { dirname } from 'node:path'
import { DEFAULT_UNIT_DIR, installSchedule, removeSchedule, scheduleUnits, type Schedule } from '../schedule/install.ts'
import { buildArgv, RANDOMIZED_DELAY } from '../schedule/units.ts'
import { oneArgument, outDir, type Values } from './commands.ts'

export async function scheduleCommand(args: readonly string[], values: Values): Promise<number> {
  if (values.remove) return remove(oneArgument(args, 'one recipe file or recipe name to unschedule'), values)
  const file = oneArgument(args, 'one recipe file')
  if (values.onCalendar === undefined) throw new UsageError('pibake schedule needs --on-calendar', "when to rebuild, e.g. --on-calendar daily or --on-calendar 'Sun *-*-* 03:30'")
  const schedule = await scheduleUnits(file, {
    onCalendar: values.onCalendar,
    outDir: outDir(values),
    unitDir: values.unitDir,
    refresh: values.refresh,
    upgrade: values.upgrade,
    unchecked: values.print,
  })
  if (values.print) {
    process.stdout.write(`# ${schedule.service.file}\n${schedule.service.text}\n# ${schedule.timer.file}\n${schedule.timer.text}\n${schedule.cron}`)
    return 0
  }
  await installSchedule(schedule)
  process.stdout.write(written(schedule))
  return 0
}

/** The folders systemd's system manager reads units from (systemd.unit(5), "Unit File Load Path"). */
const SYSTEM_UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system']

function written(schedule: Schedule): string {
  const { calendar, name } = schedule
  const when = calendar.normalized ? `${calendar.normalized}${calendar.next ? ` (next: ${calendar.next}, up to ${RANDOMIZED_DELAY} later)` : ''}` : calendar.spec
  const elsewhere = !SYSTEM_UNIT_DIRS.includes(dirname(schedule.service.file))
  return [
    `pibake: wrote ${schedule.service.file} and ${schedule.timer.file}`,
    `  runs: ${shellQuote(buildArgv(schedule.spec))}`,
    `  when: ${when}`,
    elsewhere ? `to use them, put both in ${DEFAULT_UNIT_DIR}/ on the host that builds, then enable the timer:` : 'enable the timer:',
    `  systemctl daemon-reload && systemctl enable --now ${name}.timer`,
    'each run publishes only a build that succeeded and differs from the live one; see what each did with:',
    `  systemctl list-timers ${name}.timer; journalctl -u ${name}.service`,
    '',
  ].join('\n')
}

async function remove(recipe: string, values: Values): Promise<number> {
  const { name, removed } = await removeSchedule(recipe, { unitDir: values.unitDir })
  process.stdout.write([`pibake: removed ${removed.join(', ')}`, 'stop the timer systemd still has loaded:', `  systemctl stop ${name}.timer; systemctl daemon-reload`, ''].join('\n'))
  return 0
}
