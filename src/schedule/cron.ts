/**
 * A cron line for hosts without systemd (`/etc/cron.d/pibake-<recipe>`): the same build, niced and
 * at idle I/O priority, its output appended to a log. Cron has no catching up after downtime and no
 * random delay; a calendar spec converts when it is within what cron can say (whole minutes, no
 * years, no time zone), else the line is left commented out with the reason.
 */
import { shellQuote } from '../errors.ts'
import { buildArgv, unitName, type ScheduleSpec } from './units.ts'

/** systemd's shorthands, in its normalized form (systemd.time(7)), for when systemd-analyze is not there to normalize. */
const SHORTHANDS: Readonly<Record<string, string>> = {
  minutely: '*-*-* *:*:00',
  hourly: '*-*-* *:00:00',
  daily: '*-*-* 00:00:00',
  weekly: 'Mon *-*-* 00:00:00',
  monthly: '*-*-01 00:00:00',
  yearly: '*-01-01 00:00:00',
  annually: '*-01-01 00:00:00',
  quarterly: '*-01,04,07,10-01 00:00:00',
  semiannually: '*-01,07-01 00:00:00',
}

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']

/** `/etc/cron.d` text running the scheduled build; `normalized` is systemd's form of the spec when known. */
export function renderCron(spec: ScheduleSpec, normalized: string | undefined): string {
  const name = unitName(spec.recipe)
  const command = `nice -n 10 ionice -c 3 ${shellQuote(buildArgv(spec))} >>${shellQuote([`/var/log/${name}.log`])} 2>&1`.replaceAll('%', '\\%')
  const when = cronSchedule(normalized ?? SHORTHANDS[spec.onCalendar.trim()] ?? spec.onCalendar.trim())
  const header = `# /etc/cron.d/${name}: pibake ${spec.version}, the recipe ${spec.recipe} on "${spec.onCalendar}", for a host without systemd`
  if ('problem' in when) return `${header}\n# ${when.problem}: write the schedule yourself (minute hour day-of-month month day-of-week)\n# * * * * * root ${command}\n`
  return `${header}\n${when.fields} root ${command}\n`
}

/** The five cron fields of a normalized calendar spec (`[weekdays ]year-month-day hour:minute:second`). */
export function cronSchedule(normalized: string): { fields: string } | { problem: string } {
  const match = /^(?:(\S+) )?(\S+)-(\S+)-(\S+) (\S+):(\S+):(\S+)$/.exec(normalized.trim())
  if (!match) return { problem: `"${normalized}" is not a date and time cron can express (a time zone, or a form cron lacks)` }
  const [, weekdays = '*', year, month = '', day = '', hour = '', minute = '', second = ''] = match
  if (year !== '*') return { problem: `cron has no years (${normalized})` }
  if (!/^0+$/.test(second)) return { problem: `cron has no seconds (${normalized})` }
  if (weekdays !== '*' && day !== '*') return { problem: `cron runs on the day of the month OR the weekday, systemd on both (${normalized})` }
  const parts = [field(minute, 59), field(hour, 23), field(day, 31), field(month, 12), weekdayField(weekdays)]
  if (parts.includes(undefined)) return { problem: `cron cannot express "${normalized}"` }
  return { fields: parts.join(' ') }
}

/** One numeric field: `*`, `N`, `A..B`, `A/S` (A, A+S, … up to max), and comma lists of them. */
function field(text: string, max: number): string | undefined {
  if (text === '*') return '*'
  const items = text.split(',').map((item) => {
    const step = /^(\d+)\/(\d+)$/.exec(item)
    if (step) return `${Number(step[1])}-${max}/${Number(step[2])}`
    const range = /^(\d+)\.\.(\d+)$/.exec(item)
    if (range) return `${Number(range[1])}-${Number(range[2])}`
    return /^\d+$/.test(item) ? String(Number(item)) : undefined
  })
  return items.includes(undefined) ? undefined : items.join(',')
}

/** `Mon..Fri,Sun` as cron's numbers (`1-5,0`): many crons take no ranges or lists of names. */
function weekdayField(text: string): string | undefined {
  if (text === '*') return '*'
  const day = (name: string) => {
    const index = WEEKDAYS.indexOf(name.slice(0, 3).toLowerCase())
    return index < 0 ? undefined : index
  }
  const items = text.split(',').map((item) => {
    const [from, to] = item.split('..').map(day)
    if (from === undefined || (item.includes('..') && (to === undefined || to < from))) return undefined
    return item.includes('..') ? `${from}-${to}` : String(from)
  })
  return items.includes(undefined) ? undefined : items.join(',')
}
