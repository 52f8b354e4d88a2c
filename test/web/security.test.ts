/**
 * What keeps `pibake serve` (which runs as root) from doing what a request asks when the request is
 * not root's: names from URLs that are not the site's, a record pointing at a file others can write,
 * a loopback server without its token, a move's revert over an edit made meanwhile, and event
 * streams a client never reads. Tiny site records in a temp folder; no demo image needed.
 */
import { spawn } from 'node:child_process'
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { serve as listenWith } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { SiteRecord } from '../../src/site/record.ts'
import { openSite, type Site } from '../../src/site/store.ts'
import { planMove, revertMove, writeMove } from '../../src/web/actions.ts'
import { createApp } from '../../src/web/app.ts'
import { parseListen } from '../../src/web/guard.ts'
import { Jobs, type Job } from '../../src/web/jobs.ts'
import { trustedRecipeFile } from '../../src/web/recipe-file.ts'
import { serve } from '../../src/web/serve.ts'
import { signal } from '../helpers/process.ts'
import { waitFor } from '../helpers/wait.ts'

const TOKEN = 'test-token-0123456789'
const CSRF = 'test-csrf-0123456789'
const IDS = ['20261201-100000-0a0b0c0d', '20261202-100000-1a1b1c1d'] as const
const MACS = { a1: 'dc:a6:32:00:71:01', a2: 'dc:a6:32:00:71:02', b1: 'dc:a6:32:00:72:01' } as const

let dir: string
let site: Site
let jobs: Jobs

/** A record as build() writes one, for `recipe` built from `file`. */
function record(recipe: string, file: string, nodes: readonly { hostname: string; mac: string }[], extra: Partial<SiteRecord> = {}): SiteRecord {
  return {
    format: 1,
    recipe,
    file,
    netboot: { server: '10.71.0.1', dhcp: { mode: 'range', start: '10.71.0.100', end: '10.71.0.150', netmask: '255.255.255.0', dns: [] }, nfs: { server: '10.71.0.1', path: '/srv/nfs' } },
    nodes: nodes.map((n) => ({ ...n, model: '4B' })),
    where: { nfs: { kind: 'local', path: join(dir, 'publish/nfs') }, tftp: { kind: 'local', path: join(dir, 'publish/tftp') } },
    builds: [],
    keep: { builds: 3, days: 0 },
    updated: '2026-12-01T10:00:00.000Z',
    ...extra,
  } as SiteRecord
}

function recipeText(name: string, nodes: readonly { hostname: string; mac: string }[]): string {
  const entries = nodes.map((n) => `    { hostname: '${n.hostname}', mac: '${n.mac}', model: '4B' },`).join('\n')
  return `export default { name: '${name}', nodes: [\n${entries}\n  ] }\n`
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true })
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`)
}

const app = (streams?: Parameters<typeof createApp>[1]['streams']) => createApp({ site, outDir: join(dir, 'out'), jobs }, { listen: parseListen('127.0.0.1:8470'), token: TOKEN, csrf: CSRF, ...(streams ? { streams } : {}) })
const authorized = { host: '127.0.0.1:8470', authorization: `Bearer ${TOKEN}` }
const post = (path: string, body: Record<string, string> = {}) => app().request(`http://127.0.0.1:8470${path}`, { method: 'POST', body: new URLSearchParams({ csrf: CSRF, ...body }), headers: authorized })

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-web-security-'))
  await chmod(dir, 0o755)
  site = openSite({ kind: 'local', path: join(dir, 'config') })
  await mkdir(join(dir, 'recipes'))
  const a = [{ hostname: 'a1', mac: MACS.a1 }, { hostname: 'a2', mac: MACS.a2 }]
  const b = [{ hostname: 'b1', mac: MACS.b1 }]
  await writeFile(join(dir, 'recipes/alpha.ts'), recipeText('alpha', a))
  await writeFile(join(dir, 'recipes/beta.ts'), recipeText('beta', b))
  await writeJson(join(dir, 'config/pibake/alpha.json'), record('alpha', join(dir, 'recipes/alpha.ts'), a))
  await writeJson(join(dir, 'config/pibake/beta.json'), record('beta', join(dir, 'recipes/beta.ts'), b))
})

test.before.each(() => {
  jobs = new Jobs()
})

test.after.each(async () => {
  await jobs.stop(5_000)
})

test.after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/**
 * A record planted outside the site's folder (`<config>/pibake/../../evil.json`), naming itself by
 * the path that reaches it and a recipe file that would run as root.
 */
async function plantRecord(): Promise<string> {
  const marker = join(dir, 'evil-ran')
  await writeFile(join(dir, 'evil.ts'), `import { writeFileSync } from 'node:fs'\nwriteFileSync(${JSON.stringify(marker)}, 'ran as root')\n`)
  const secret = join(dir, 'secret-root')
  await mkdir(join(secret, 'evil/builds', IDS[0]), { recursive: true })
  await mkdir(join(secret, 'evil/builds', IDS[1]), { recursive: true })
  await writeFile(join(secret, 'evil/builds', IDS[1], 'root-only-secret'), 'hunter2\n')
  const builds = IDS.map((id, i) => ({ id, created: `2026-12-0${i + 1}T10:00:00.000Z`, live: [] }))
  await writeJson(join(dir, 'evil.json'), record('../../evil', join(dir, 'evil.ts'), [], { builds, where: { nfs: { kind: 'local', path: join(secret, 'a/b') }, tftp: { kind: 'local', path: secret } } }))
  return marker
}

test('a POST naming a recipe by a path (%2F) is refused on the name: no build starts', async () => {
  const marker = await plantRecord()
  const response = await post('/recipes/..%2F..%2Fevil/build')
  const text = await response.text()
  assert.is(response.status, 400, text)
  assert.match(text, /the URL: &quot;..\/..\/evil&quot; is not a recipe name/)
  assert.equal(jobs.list(), [], 'no job was started')
  await sleep(200)
  assert.not.ok(await stat(marker).catch(() => undefined), 'the planted recipe never ran')
})

test("a planted record's changes route is refused on the name: no snapshot of a root-only folder", async () => {
  await plantRecord()
  const response = await app().request(`http://127.0.0.1:8470/recipes/..%2F..%2Fevil/builds/${IDS[1]}/changes`, { headers: authorized })
  const text = await response.text()
  assert.is(response.status, 400, text)
  assert.match(text, /the URL: &quot;..\/..\/evil&quot; is not a recipe name/)
  assert.not.match(text, 'root-only-secret')
})

test('a listed recipe whose file others can write (or swap) is not built', async () => {
  const file = join(dir, 'recipes/alpha.ts')
  const refusedWith = async (pattern: RegExp) => {
    const response = await post('/recipes/alpha/build')
    const text = await response.text()
    assert.is(response.status, 400, text)
    assert.match(text, pattern)
    assert.equal(jobs.list(), [], 'no job was started')
  }
  try {
    await chmod(file, 0o666)
    await refusedWith(/mode 666: others could change what root builds/)
    await chmod(file, 0o644)
    await chown(file, 65534, 65534)
    await refusedWith(/owned by uid 65534/)
    await chown(file, 0, 0)
    await chmod(join(dir, 'recipes'), 0o777)
    await refusedWith(/its folder .*recipes is owned by uid 0, mode 777: others could put another file in its place/)
  } finally {
    await chmod(join(dir, 'recipes'), 0o755)
    await chown(file, 0, 0)
    await chmod(file, 0o644)
  }
  // Root's file in root's folders passes, through a symlink too: its real path is what is built.
  await symlink(file, join(dir, 'alpha-link.ts'))
  assert.is(await trustedRecipeFile(record('alpha', join(dir, 'alpha-link.ts'), [])), file)
  await rm(join(dir, 'alpha-link.ts'))
})

test('serve() on loopback refuses a request without its token (401); the URL it gives works', async () => {
  const serving = await serve({ site, outDir: join(dir, 'out'), listen: '127.0.0.1:0' })
  try {
    const url = new URL(serving.url)
    assert.match(serving.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/, 'the URL carries a token made for the run')
    assert.is((await fetch(`${url.origin}/jobs`)).status, 401, 'no token, no page')
    assert.is((await fetch(`${url.origin}/jobs?token=wrong`)).status, 401, 'a wrong token')
    const entry = await fetch(serving.url, { redirect: 'manual' })
    assert.is(entry.status, 303)
    assert.is(entry.headers.get('location'), '/', 'the token leaves the address bar')
    const cookie = entry.headers.get('set-cookie')!.split(';')[0]!
    assert.match(cookie, `pibake-token-${url.port}=`)
    assert.is((await fetch(`${url.origin}/jobs`, { headers: { cookie } })).status, 200, 'the token, kept in a cookie')
    assert.is((await fetch(`${url.origin}/jobs`, { headers: { authorization: `Bearer ${serving.token}` } })).status, 200, 'or sent by a script')
  } finally {
    await serving.close()
  }
})

test('pibake serve on the command line prints a URL with the token; without it, 401', async () => {
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../bin/pibake.js'), 'serve', '--target', join(dir, 'config'), '--out', join(dir, 'out'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<number | null>((done) => child.on('close', done))
  try {
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => void (out += chunk.toString()))
    const url = await waitFor(() => /serving the site at (http:\S+)/.exec(out)?.[1], { what: 'pibake serve to print its URL', seen: () => out })
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/)
    assert.is((await fetch(`${new URL(url).origin}/jobs`)).status, 401)
    assert.match(await (await fetch(url)).text(), 'refused', 'fetch keeps no cookie across the redirect')
    assert.is((await fetch(`${new URL(url).origin}/jobs`, { headers: { authorization: `Bearer ${new URL(url).searchParams.get('token')}` } })).status, 200)
  } finally {
    signal(child.pid!, 'SIGTERM')
  }
  assert.is(await exited, 0)
})

test("a failed move's revert leaves a file edited meanwhile alone, and keeps mode, owner and symlink", async () => {
  // alpha.ts is kept elsewhere, 0600 and someone else's group, and the site knows it by a symlink.
  const kept = join(dir, 'kept')
  await mkdir(kept)
  const real = join(kept, 'alpha.ts')
  await writeFile(real, await readFile(join(dir, 'recipes/alpha.ts'), 'utf8'))
  await chmod(real, 0o600)
  await chown(real, 0, 4242)
  const link = join(dir, 'recipes/alpha-linked.ts')
  await symlink(real, link)
  const a = [{ hostname: 'a1', mac: MACS.a1 }, { hostname: 'a2', mac: MACS.a2 }]
  await writeJson(join(dir, 'config/pibake/alpha.json'), record('alpha', link, a))
  try {
    const plan = await planMove(site, MACS.a2, 'beta')
    await writeMove(plan)
    assert.not.match(await readFile(link, 'utf8'), MACS.a2, 'the move took a2 out of alpha')
    assert.is((await stat(real)).mode & 0o777, 0o600, 'the move kept the mode')
    // Meanwhile (the build runs for minutes) the administrator edits beta.ts.
    const edited = `${await readFile(join(dir, 'recipes/beta.ts'), 'utf8')}// edited by the administrator\n`
    await writeFile(join(dir, 'recipes/beta.ts'), edited)
    const notes = await revertMove(plan)
    assert.is(await readFile(join(dir, 'recipes/beta.ts'), 'utf8'), edited, "the administrator's edit stays")
    assert.match(notes.join('\n'), /beta\.ts was changed since the move wrote it, so it is left as it is/)
    assert.is(await readFile(link, 'utf8'), plan.before.from, 'alpha is as it was')
    assert.ok((await lstat(link)).isSymbolicLink(), 'still a symlink')
    assert.is(await readlink(link), real)
    const after = await stat(real)
    assert.equal([after.mode & 0o777, after.uid, after.gid], [0o600, 0, 4242], 'mode and owner kept')
  } finally {
    await writeJson(join(dir, 'config/pibake/alpha.json'), record('alpha', join(dir, 'recipes/alpha.ts'), a))
    await writeFile(join(dir, 'recipes/beta.ts'), recipeText('beta', [{ hostname: 'b1', mac: MACS.b1 }]))
  }
})

/** A job that runs until `end()` is called; its listeners get what a build would print. */
function runningJob(): { job: Job; end: () => void } {
  let end!: () => void
  const job = jobs.start('build alpha', () => new Promise<string>((done) => (end = () => done('ended'))))
  return { job, end }
}

test('a client that never reads a job stream is dropped; the server does not keep its events', async () => {
  const { job, end } = runningJob()
  const server = await new Promise<ReturnType<typeof listenWith>>((resolve) => {
    const s = listenWith({ fetch: app().fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
  })
  const port = (server.address() as AddressInfo).port
  const client = connect(port, '127.0.0.1')
  try {
    await new Promise((done) => client.once('connect', done))
    client.pause()
    client.write(`GET /jobs/${job.id}/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`)
    await waitFor(() => job.listeners.size === 1, { what: 'the stream to listen to the job' })
    const line = { type: 'log', stage: 'customize', line: 'x'.repeat(4000) }
    // Up to 80 MB of events: far more than the kernel's socket buffers and the stream's queue hold.
    let sent = 0
    for (; sent < 20_000 && job.listeners.size; sent++) {
      for (const listener of job.listeners) listener(line as never)
      if (sent % 200 === 0) await sleep(1)
    }
    await waitFor(() => job.listeners.size === 0, { what: 'the server to drop the client that does not read', timeoutMs: 10_000, seen: () => `${sent} events of 4 KB sent` })
    assert.ok(sent < 20_000, `dropped after ${sent} events of 4 KB, not at the end`)
  } finally {
    client.destroy()
    end()
    await new Promise((done) => server.close(done))
  }
})

test('at most 16 event streams at once, 8 of them following log files; beyond, 503', async () => {
  const { job, end } = runningJob()
  const server = app()
  const open = async (path: string) => server.request(`http://127.0.0.1:8470${path}`, { headers: authorized })
  const streams: Response[] = []
  try {
    // A run of alpha in progress (its log names a live process: this one).
    await mkdir(join(dir, 'out/logs'), { recursive: true })
    await writeFile(join(dir, `out/logs/alpha-20261206T220000-${process.pid}.jsonl`), `${JSON.stringify({ time: '2026-12-06T22:00:00.000Z', type: 'stage-start', stage: 'image' })}\n`)
    for (let i = 0; i < 8; i++) streams.push(await open('/recipes/alpha/live/events'))
    assert.equal(streams.map((r) => r.status), Array(8).fill(200))
    const ninth = await open('/recipes/alpha/live/events')
    assert.is(ninth.status, 503, 'a ninth followed file')
    assert.match(await ninth.text(), '8 streams follow build logs')
    for (let i = 0; i < 8; i++) streams.push(await open(`/jobs/${job.id}/events`))
    assert.equal(streams.map((r) => r.status), Array(16).fill(200))
    const seventeenth = await open(`/jobs/${job.id}/events`)
    assert.is(seventeenth.status, 503, 'a seventeenth stream')
    assert.match(await seventeenth.text(), '16 event streams are open')
    await streams.shift()!.body!.cancel()
    await waitFor(async () => {
      const again = await open(`/jobs/${job.id}/events`)
      if (again.status === 200) streams.push(again)
      else await again.body?.cancel()
      return again.status === 200
    }, { what: 'a closed stream to free its place' })
  } finally {
    for (const response of streams) await response.body?.cancel()
    end()
    await rm(join(dir, 'out/logs'), { recursive: true, force: true })
  }
})

test.run()
