/**
 * Calendar specs: checked by systemd itself (`systemd-analyze calendar`), which also gives the
 * normalized form and the next time it elapses.
 */
import { CommandError, PibakeError, UsageError } from '../errors.ts'
import { exec, haveProgram } from '../system/exec.ts'
import { assertOneLine } from './units.ts'

export interface Calendar {
  /** As given. */
  readonly spec: string
  /** systemd's normalized form (`*-*-* 03:30:00`); undefined when systemd-analyze was not there to say. */
  readonly normalized?: string
  /** When it elapses next, in systemd's words. */
  readonly next?: string
}

/**
 * Checks `spec` with `systemd-analyze calendar`. Without systemd-analyze, `required` makes that an
 * error (units for a host without systemd make no sense); otherwise the spec is returned unchecked.
 */
export async function checkCalendar(spec: string, required: boolean): Promise<Calendar> {
  assertOneLine(spec)
  if (!spec.trim()) throw new UsageError('--on-calendar is empty', "give a systemd calendar spec, e.g. --on-calendar daily or --on-calendar 'Sun *-*-* 03:30'")
  if (!(await haveProgram('systemd-analyze'))) {
    if (!required) return { spec }
    throw new PibakeError(
      'cannot check the calendar spec: systemd-analyze is not installed (Debian package systemd)',
      'install systemd on this host, or use pibake schedule --print for the units and a cron line for a host without systemd',
    )
  }
  let stdout: string
  try {
    stdout = (await exec(['systemd-analyze', 'calendar', '--', spec])).stdout
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    throw new UsageError(
      `--on-calendar ${JSON.stringify(spec)} is not a systemd calendar spec: ${error.stderrTail.trim() || `systemd-analyze exited ${error.exitCode}`}`,
      "e.g. daily, weekly, 'Sun *-*-* 03:30', 'Mon..Fri 04:00', '*-*-* 00/6:00' (man systemd.time, CALENDAR EVENTS)",
    )
  }
  const field = (name: string) => new RegExp(`^\\s*${name}: (.*)$`, 'm').exec(stdout)?.[1]?.trim()
  const calendar = { spec, normalized: field('Normalized form'), next: field('Next elapse') }
  if (calendar.next === 'never') throw new UsageError(`--on-calendar ${JSON.stringify(spec)} never elapses again (normalized: ${calendar.normalized})`, 'give a spec that repeats, e.g. daily')
  return calendar
}
