/**
 * koffi (C calls from Node), configured once for the whole process: it refuses a change of its
 * settings once any library is loaded, so every binding of pibake (libnfs and libc's capget in
 * rehearse/nfs-client.ts, libc's xattr calls in xattr-calls.ts) takes it from here.
 */
import { createRequire } from 'node:module'

let configured: typeof import('koffi') | undefined

/** koffi, configured before its first library is loaded. */
export function configuredKoffi(): typeof import('koffi') {
  if (configured) return configured
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi')
  // A rehearsal's storm of N nodes keeps up to N libnfs calls queued; koffi refuses more than max_async_calls.
  koffi.config({ ...koffi.config(), max_async_calls: 4096 })
  configured = koffi
  return koffi
}
