/**
 * A test file's own host effects (the file systems it mounts for itself, their loop devices), made
 * with src/system's wrappers into one Cleanup that is undone when the file ends and also when the
 * runner stops it: SIGTERM when its time is up, SIGINT on Ctrl-C (test/run-file.ts gives the file's
 * group time to undo its mounts before SIGKILL). uvu's after hook never runs on a signal, so
 * without this a stopped file leaves its mounts and loop devices behind. A build the file runs in
 * its own process takes `signal` and is `track`ed: on a signal it is stopped first and its own
 * undo (the pipeline's Cleanup) is awaited, since its mounts may sit on the file's.
 */
import { Cleanup } from '../../src/system/cleanup.ts'

export interface HostEffects {
  /** Where the file registers each effect's undo (mount(), attachLoop()). */
  readonly cleanup: Cleanup
  /** Aborted on SIGTERM/SIGINT: for the builds the file runs in its process. */
  readonly signal: AbortSignal
  /** A build (or other work) to let end before the effects are undone on a signal; returns it. */
  track<T>(work: Promise<T>): Promise<T>
  /** Undoes every effect, newest first; throws what could not be undone. */
  undo(): Promise<void>
}

export function hostEffects(): HostEffects {
  const cleanup = new Cleanup()
  const stop = new AbortController()
  const running = new Set<Promise<unknown>>()
  const onSignal = (signal: NodeJS.Signals): void => {
    stop.abort(new Error(`stopped by ${signal}`))
    void Promise.allSettled(running)
      .then(() => cleanup.run())
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal)
  return {
    cleanup,
    signal: stop.signal,
    track(work) {
      running.add(work)
      void work.then(() => running.delete(work), () => running.delete(work))
      return work
    },
    async undo() {
      const errors = await cleanup.run()
      // Only now: a listener must stay while a signal is handled, or execa's exit handler kills us first.
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal)
      if (errors.length) throw new Error(errors.map((e) => e.message).join('\n'))
    },
  }
}
