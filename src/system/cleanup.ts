/**
 * Every host side effect is registered together with its undo. Undos run in reverse order, all of
 * them even when one fails, on success, on failure and after a signal. A journal on disk lists the
 * effects still in place so that `pibake clean` can undo them after a run was killed outright.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** A host effect as the journal records it. */
export type Effect =
  | { readonly kind: 'mount'; readonly target: string }
  | { readonly kind: 'loop'; readonly device: string; readonly file: string }
  | { readonly kind: 'path'; readonly path: string }

interface Undo {
  readonly label: string
  readonly effect: Effect | undefined
  readonly fn: () => Promise<void> | void
}

export class Cleanup {
  readonly #undos: Undo[] = []
  readonly #journal: Journal | undefined
  readonly errors: Error[] = []

  constructor(journal?: Journal) {
    this.#journal = journal
    journal?.track(this)
  }

  /** A new Cleanup for a shorter-lived part of the work, journalled with this one. */
  child(): Cleanup {
    return new Cleanup(this.#journal)
  }

  /** Effects still in place, oldest first. */
  get effects(): Effect[] {
    return this.#undos.flatMap((u) => (u.effect ? [u.effect] : []))
  }

  /** Registers an undo; `effect` puts it in the journal for `pibake clean`. */
  defer(label: string, fn: () => Promise<void> | void, effect?: Effect): void {
    this.#undos.push({ label, fn, effect })
    this.#save()
  }

  /** Runs every undo in reverse order; failures are collected in `errors`, never thrown. */
  async run(): Promise<readonly Error[]> {
    while (this.#undos.length) {
      const undo = this.#undos.pop()!
      try {
        await undo.fn()
      } catch (error) {
        const e = error instanceof Error ? error : new Error(String(error))
        this.errors.push(new Error(`cleanup: ${undo.label}: ${e.message}`, { cause: e }))
      }
      this.#save()
    }
    this.#save()
    return this.errors
  }

  #save(): void {
    this.#journal?.save()
  }
}

/**
 * The on-disk list of effects of one running process, `<dir>/<pid>.json`, kept up to date by every
 * Cleanup that shares it; removed when none has effects left.
 */
export class Journal {
  readonly file: string
  readonly dir: string
  readonly pid: number
  readonly #cleanups = new Set<Cleanup>()

  constructor(dir: string, pid = process.pid) {
    this.dir = dir
    this.pid = pid
    this.file = join(dir, `${pid}.json`)
  }

  track(cleanup: Cleanup): void {
    this.#cleanups.add(cleanup)
  }

  save(): void {
    const effects = [...this.#cleanups].flatMap((cleanup) => cleanup.effects)
    if (effects.length) this.write(effects)
    else this.remove()
  }

  write(effects: readonly Effect[]): void {
    mkdirSync(this.dir, { recursive: true })
    const temp = `${this.file}.tmp`
    writeFileSync(temp, JSON.stringify({ pid: this.pid, effects }, null, 1))
    renameSync(temp, this.file)
  }

  remove(): void {
    rmSync(this.file, { force: true })
  }
}

export interface JournalFile {
  readonly pid: number
  readonly file: string
  readonly effects: readonly Effect[]
}

/** Journals left by processes that are no longer running. */
export function orphanJournals(dir: string): JournalFile[] {
  return readJournals(dir).filter((journal) => !processAlive(journal.pid))
}

/** Journals of processes still running. */
export function liveJournals(dir: string): JournalFile[] {
  return readJournals(dir).filter((journal) => processAlive(journal.pid))
}

function readJournals(dir: string): JournalFile[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names
    .filter((name) => /^\d+\.json$/.test(name))
    .map((name) => {
      const file = join(dir, name)
      const data = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; effects: Effect[] }
      return { pid: data.pid, file, effects: data.effects }
    })
}

/** Whether a process exists (EPERM: it does, and is someone else's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
