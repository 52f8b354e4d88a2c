/**
 * A worker thread that runs one function's own text as a script (`eval`), for the small pools
 * that hash and write files: no module of pibake is loaded in it, so starting one costs neither a
 * module loader nor, when pibake runs from its TypeScript sources, a second type stripper (half
 * of what starting a worker cost). The function takes Node's modules with
 * `process.getBuiltinModule` and may use nothing else from the module it is written in.
 */
import { Worker } from 'node:worker_threads'

/** Starts a worker running `main()` (its text as JavaScript: a function's types are gone once it is loaded). */
export function scriptWorker(main: () => void): Worker {
  return new Worker(`(${String(main)})()`, { eval: true })
}
