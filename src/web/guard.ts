/**
 * Who may use the page. On a loopback address anyone on this machine may (as with the command
 * line), and requests must name that address as their Host (a web page elsewhere cannot reach the
 * server through a DNS name rebound to 127.0.0.1). On any other address every request needs the
 * token printed at start: once, in the URL, after which it rides in a cookie. Every action is a POST
 * carrying the page's CSRF token and, when the browser sends one, an Origin of this server.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { MiddlewareHandler } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'
import { UsageError } from '../errors.ts'

export interface Listen {
  readonly host: string
  readonly port: number
  readonly loopback: boolean
}

export const DEFAULT_LISTEN = '127.0.0.1:8470'

/** `127.0.0.1:8470`, `[::1]:8470`, `0.0.0.0:80`, or a port alone (on 127.0.0.1). */
export function parseListen(text: string): Listen {
  const match = /^(?:\[([0-9a-f:.]+)\]|(\d+\.\d+\.\d+\.\d+))?:?(\d{1,5})$/i.exec(text)
  const host = match?.[1] ?? match?.[2] ?? '127.0.0.1'
  const port = Number(match?.[3])
  if (!match || !isIP(host) || port > 65535) throw new UsageError(`--listen ${text}: expected an address and port, like 127.0.0.1:8470 or [::1]:8470`)
  return { host, port, loopback: host === '::1' || host.startsWith('127.') }
}

export function newSecret(): string {
  return randomBytes(24).toString('base64url')
}

const COOKIE = 'pibake-token'

/** Refuses requests without the token (non-loopback) or with a foreign Host (loopback). */
export function accessGuard(listen: Listen, token: string | undefined): MiddlewareHandler {
  if (!listen.loopback && !token) throw new UsageError(`pibake serve on ${listen.host} needs a token`, 'the command line makes one and prints it; the library needs serve({ token })')
  return async (c, next) => {
    if (listen.loopback) {
      const host = c.req.header('host') ?? ''
      if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host)) return c.text(`refused: this server answers requests for ${listen.host} only`, 421)
      return next()
    }
    const given = c.req.query('token')
    if (given !== undefined && same(given, token!)) {
      setCookie(c, COOKIE, token!, { httpOnly: true, sameSite: 'Strict', path: '/' })
      const url = new URL(c.req.url)
      url.searchParams.delete('token')
      return c.redirect(`${url.pathname}${url.search}`, 303)
    }
    const cookie = getCookie(c, COOKIE)
    if (cookie === undefined || !same(cookie, token!)) return c.text('refused: open the URL with the token that pibake serve printed', 401)
    return next()
  }
}

/** POSTs must carry `csrf` (the page's token) and come from this origin when the browser says where from. */
export function csrfGuard(csrf: string): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next()
    const origin = c.req.header('origin')
    if (origin !== undefined && origin !== new URL(c.req.url).origin) return c.text('refused: the request comes from another site', 403)
    const form = await c.req.parseBody()
    const given = typeof form.csrf === 'string' ? form.csrf : ''
    if (!same(given, csrf)) return c.text('refused: the form is stale or forged (no valid CSRF token); reload the page', 403)
    return next()
  }
}

function same(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)]
  return x.length === y.length && timingSafeEqual(x, y)
}
