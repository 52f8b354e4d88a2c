/**
 * `pibake serve` as a library call: the web page over a site, on a loopback address unless told
 * otherwise, and on every address only for whoever holds its token (src/web/guard.ts says why):
 * one is made for the run when none is given, so no caller can serve without one. Resolves once
 * listening; `close()` stops the server and any build it started (by PID, SIGTERM: pibake undoes
 * what it set up).
 */
import { serve as listenWith } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import { resolveDir } from '../system/paths.ts'
import type { Site } from '../site/store.ts'
import { createApp } from './app.ts'
import { parseListen, newSecret, DEFAULT_LISTEN } from './guard.ts'
import { Jobs } from './jobs.ts'

export interface ServeOptions {
  readonly site: Site
  /** pibake's out folder: the logs, and the `--out` of builds started from the page (default ./out). */
  readonly outDir?: string
  /** `127.0.0.1:8470` (the default); port 0 picks a free one. */
  readonly listen?: string
  /** Every request must carry it (once in the URL, then a cookie); default: a new random one. */
  readonly token?: string
  /** The site's dnsmasq log (`log-facility=`), for when each node last booted and the new Pis. */
  readonly dnsmasqLog?: string
}

export interface Serving {
  /** The page's address with `?token=`: the one address that lets a browser in. */
  readonly url: string
  /** The token every request must carry. */
  readonly token: string
  close(): Promise<void>
}

export async function serve(options: ServeOptions): Promise<Serving> {
  const listen = parseListen(options.listen ?? DEFAULT_LISTEN)
  const jobs = new Jobs()
  const token = options.token || newSecret()
  const outDir = await resolveDir(options.outDir ?? 'out')
  const app = createApp({ site: options.site, outDir, jobs, dnsmasqLog: options.dnsmasqLog }, { listen, token, csrf: newSecret() })
  const { server, port } = await new Promise<{ server: ReturnType<typeof listenWith>; port: number }>((resolve, reject) => {
    const server = listenWith({ fetch: app.fetch, hostname: listen.host, port: listen.port }, (info: AddressInfo) => resolve({ server, port: info.port }))
    server.once('error', reject)
  })
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host
  return {
    url: `http://${host}:${port}/?token=${encodeURIComponent(token)}`,
    token,
    close: async () => {
      await jobs.stop()
      await new Promise<void>((done) => {
        server.close(() => done())
        if ('closeAllConnections' in server) server.closeAllConnections()
      })
      await options.site.hosts.close()
    },
  }
}
