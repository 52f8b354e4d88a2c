/** Stopping the servers a test started: by PID, never by name (the product's own helpers). */
export { alive, signal, stopProcess, type Owned } from '../../src/system/process.ts'
