/**
 * Scheduled rebuilds: the units for a recipe (rendered from absolute paths resolved here, at the
 * edge), written into a unit folder, or removed from it. Only files that pibake wrote (they start
 * with MARKER) are ever replaced or removed.
 */
import { readFile, readlink, realpath, rm, stat } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { PibakeError } from '../errors.ts'
import { localFiles } from '../publish/files.ts'
import { recipeNameOf } from '../recipe/argument.ts'
import { loadRecipe } from '../recipe/load.ts'
import { SELF_CLI, selfVersion } from '../self.ts'
import { checkCalendar, type Calendar } from './calendar.ts'
import { renderCron } from './cron.ts'
import { MARKER, renderService, renderTimer, unitName, type ScheduleSpec } from './units.ts'

export const DEFAULT_UNIT_DIR = '/etc/systemd/system'

export interface ScheduleOptions {
  /** A systemd calendar spec: `daily`, `Sun *-*-* 03:30`. */
  readonly onCalendar: string
  /** The out folder the scheduled builds use (default `./out`). */
  readonly outDir?: string
  /** Where the units go (default /etc/systemd/system). */
  readonly unitDir?: string
  /** Fetch package lists on every run (`build --refresh`). */
  readonly refresh?: boolean
  /** `apt-get dist-upgrade` on every run (`build --upgrade`). */
  readonly upgrade?: boolean
  /** The Node.js binary the service runs (default: this one). */
  readonly node?: string
  /** pibake's command-line script (default: this pibake's). */
  readonly cli?: string
  /** Render even where systemd-analyze cannot check the spec (for `--print` on a host without systemd). */
  readonly unchecked?: boolean
}

export interface UnitFile {
  readonly file: string
  readonly text: string
}

export interface Schedule {
  readonly name: string
  readonly spec: ScheduleSpec
  readonly calendar: Calendar
  readonly service: UnitFile
  readonly timer: UnitFile
  /** `/etc/cron.d` text doing the same, for a host without systemd. */
  readonly cron: string
}

/** Loads the recipe, checks the calendar spec and renders the units. Writes nothing. */
export async function scheduleUnits(recipeFile: string, options: ScheduleOptions): Promise<Schedule> {
  const out = await resolved(options.outDir ?? 'out')
  const recipe = await loadRecipe(recipeFile, { outDir: out })
  const calendar = await checkCalendar(options.onCalendar, !options.unchecked)
  const spec: ScheduleSpec = {
    recipe: recipe.name,
    recipeFile: await realpath(recipe.file),
    node: await realpath(options.node ?? process.execPath),
    cli: await realpath(options.cli ?? SELF_CLI),
    out,
    onCalendar: options.onCalendar.trim(),
    refresh: options.refresh ?? false,
    upgrade: options.upgrade ?? false,
    version: selfVersion(),
  }
  const name = unitName(recipe.name)
  const dir = await resolved(options.unitDir ?? DEFAULT_UNIT_DIR)
  return {
    name,
    spec,
    calendar,
    service: { file: join(dir, `${name}.service`), text: renderService(spec) },
    timer: { file: join(dir, `${name}.timer`), text: renderTimer(spec) },
    cron: renderCron(spec, calendar.normalized),
  }
}

/** Writes the service and the timer, replacing only units pibake wrote before. */
export async function installSchedule(schedule: Schedule): Promise<void> {
  for (const unit of [schedule.service, schedule.timer]) await refuseForeign(unit.file)
  for (const unit of [schedule.service, schedule.timer]) await localFiles().writeAtomic(unit.file, unit.text, 0o644).catch(denied(unit.file))
}

/** A unit that cannot be written or removed, said with what to do about it. */
function denied(file: string): (error: NodeJS.ErrnoException) => never {
  return (error) => {
    if (typeof error.code !== 'string') throw error
    const root = error.code === 'EACCES' || error.code === 'EPERM'
    throw new PibakeError(`cannot change ${file}: ${error.message}`, root ? "systemd's units are root's: run pibake schedule as root (sudo), or give a --unit-dir you can write" : 'give a --unit-dir that is a writable folder', { cause: error })
  }
}

export interface Removed {
  readonly name: string
  /** The files removed (the units, and the timer's link in timers.target.wants/ when it was enabled). */
  readonly removed: readonly string[]
}

/**
 * Removes the units of a recipe (given as its file, or its name) from `unitDir`, and the link that
 * `systemctl enable` made for the timer, as `systemctl disable` would.
 */
export async function removeSchedule(recipe: string, options: { readonly unitDir?: string } = {}): Promise<Removed> {
  const name = unitName(await recipeNameOf(recipe))
  const dir = await resolved(options.unitDir ?? DEFAULT_UNIT_DIR)
  const files = [join(dir, `${name}.service`), join(dir, `${name}.timer`)]
  for (const file of files) await refuseForeign(file)
  const removed: string[] = []
  const link = join(dir, 'timers.target.wants', `${name}.timer`)
  const target = await readlink(link).catch(() => undefined)
  if (target !== undefined && basename(target) === `${name}.timer`) {
    await rm(link).catch(denied(link))
    removed.push(link)
  }
  for (const file of files) {
    if (!(await stat(file).catch(() => undefined))) continue
    await rm(file).catch(denied(file))
    removed.push(file)
  }
  if (!removed.length) throw new PibakeError(`no units of ${name} in ${dir}`, options.unitDir === undefined ? 'give the --unit-dir they were written to' : undefined)
  return { name, removed }
}

/** Refuses to touch an existing unit that pibake did not write. */
async function refuseForeign(file: string): Promise<void> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw error
  })
  if (text !== undefined && !text.startsWith(MARKER)) {
    throw new PibakeError(`${file} exists and was not written by pibake schedule: leaving it alone`, 'remove or rename it yourself, or give another --unit-dir')
  }
}

/** An absolute path with symlinks resolved as far as it exists (the rest may be made later). */
async function resolved(path: string): Promise<string> {
  const absolute = resolve(path)
  return realpath(absolute).catch(() => absolute)
}
