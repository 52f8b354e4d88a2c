/**
 * The one way a test waits for something: poll `check` until it returns a value other than
 * undefined/false, and fail after `timeoutMs` naming what was awaited (and, when given, what was
 * last seen). No test loop waits without a deadline.
 */
import { setTimeout as sleep } from 'node:timers/promises'

export interface WaitOptions {
  /** What is awaited, for the failure: "the build's log file in out/logs". */
  readonly what: string
  readonly timeoutMs?: number
  readonly everyMs?: number
  /** What was seen last, added to the failure. */
  readonly seen?: () => string
}

export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, options: WaitOptions): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) {
      const seen = options.seen?.()
      throw new Error(`waited ${timeoutMs / 1000} s for ${options.what}, in vain${seen ? `; last seen:\n${seen}` : ''}`)
    }
    await sleep(options.everyMs ?? 20)
  }
}
