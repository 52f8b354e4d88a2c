/**
 * Who may use the page: whoever holds the token `pibake serve` made for this run and printed on the
 * terminal of the root user who started it, on every address, loopback included. Loopback alone is
 * no boundary: every local user can reach 127.0.0.1, and the page builds as root. The token rides
 * once in the URL (`?token=`, as Jupyter prints it), after which the page keeps it in a cookie named
 * for the port (two servers on one host keep their own), or in an `Authorization: Bearer` header for
 * scripts. (A Unix socket checked for a root peer was the other way; a browser cannot speak to one,
 * and a per-run secret printed only to root's terminal is what Jupyter does for the same problem.)
 * On a loopback address requests must also name that address as their Host, so a web page elsewhere
 * cannot reach the server through a DNS name rebound to 127.0.0.1. Every action is a POST carrying
 * the page's CSRF token and, when the browser sends one, an Origin of this server.
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

/** Refuses requests without the token (every address) or with a foreign Host (loopback). */
export function accessGuard(listen: Listen, token: string | undefined): MiddlewareHandler {
  if (!token) throw new UsageError(`pibake serve on ${listen.host} needs a token`, 'the command line and serve() make one and print it; createApp needs { token }')
  return async (c, next) => {
    if (listen.loopback) {
      const host = c.req.header('host') ?? ''
      if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host)) return c.text(`refused: this server answers requests for ${listen.host} only`, 421)
    }
    const url = new URL(c.req.url)
    const cookieName = `pibake-token-${url.port || '80'}`
    const given = c.req.query('token')
    if (given !== undefined && same(given, token)) {
      setCookie(c, cookieName, token, { httpOnly: true, sameSite: 'Strict', path: '/' })
      url.searchParams.delete('token')
      return c.redirect(`${url.pathname}${url.search}`, 303)
    }
    const bearer = /^Bearer (\S+)$/.exec(c.req.header('authorization') ?? '')?.[1]
    const held = bearer ?? getCookie(c, cookieName)
    if (held === undefined || !same(held, token)) return c.text('refused: open the URL with the token that pibake serve printed', 401)
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
