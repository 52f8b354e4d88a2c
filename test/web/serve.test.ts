/**
 * pibake serve against a real site with two published fleets, in a real headless Chromium
 * (Debian's, driven by playwright-core): the page finds both fleets and their nodes; a node moved
 * with the button is moved in the published TFTP tree and dnsmasq.conf; a rollback with the button
 * switches the links on disk; a build started from the page publishes. What the page may not do is
 * refused: a request without the run's token, a POST without the CSRF token, a foreign Host, a name
 * that is not the site's. Screenshots of each page go to out/test-artifacts/web/.
 */
import { spawn } from 'node:child_process'
import { chmod, mkdir, readdir, readFile, readlink, rename } from 'node:fs/promises'
import { request } from 'node:http'
import { basename, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import { openSite, readRecord } from '../../src/site/store.ts'
import { exec } from '../../src/system/exec.ts'
import { createApp } from '../../src/web/app.ts'
import { parseListen } from '../../src/web/guard.ts'
import { Jobs } from '../../src/web/jobs.ts'
import { serve, type Serving } from '../../src/web/serve.ts'
import { startDnsmasq } from '../helpers/dnsmasq.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { withLan } from '../helpers/netns.ts'
import { signal } from '../helpers/process.ts'
import { piDhcp, tftpGet } from '../helpers/pi-client.ts'
import { waitFor } from '../helpers/wait.ts'
import { makeFleets, NODES, type Fleets } from './site-fleets.ts'

const ARTIFACTS = join(import.meta.dirname, '../../out/test-artifacts/web')
let fleets: Fleets
let serving: Serving
/** The server's address without the token (the browser holds it in a cookie once it opened serving.url). */
let base: string
/** What a script sends instead of the cookie. */
let auth: Record<string, string>
let browser: Browser
let page: Page
let first: string
let second: string

const site = () => openSite({ kind: 'local', path: fleets.publish })
const linkOf = (mac: string) => readlink(join(fleets.publish, 'tftp', mac.replaceAll(':', '-')))
const dnsmasqConf = () => readFile(join(fleets.publish, 'dnsmasq.conf'), 'utf8')
const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })

test.before(async () => {
  await mkdir(ARTIFACTS, { recursive: true })
  fleets = await makeFleets()
  await build(fleets.files.workers, { outDir: fleets.out })
  first = (await readRecord(site(), 'workers'))!.live!
  await build(fleets.files.desks, { outDir: fleets.out })
  await fleets.overlay('workers', 'etc/motd', 'workers, second build\n')
  await fleets.overlay('workers', 'etc/pibake-web-test', 'added by the second build\n')
  await build(fleets.files.workers, { outDir: fleets.out })
  second = (await readRecord(site(), 'workers'))!.live!
  serving = await serve({ site: site(), outDir: fleets.out, listen: '127.0.0.1:0' })
  base = `${new URL(serving.url).origin}/`
  auth = { authorization: `Bearer ${serving.token}` }
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] })
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  await page.goto(serving.url)
})

test.after(async () => {
  await browser?.close()
  await serving?.close()
  const left = await leftBehind(fleets.dir)
  await fleets.remove()
  assert.equal(left, [], 'no loop device or mount is left')
})

test('the fleets page shows both fleets, their nodes and the build each boots', async () => {
  await page.goto(serving.url)
  assert.equal(await page.locator('section.fleet').evaluateAll((s) => s.map((e) => e.getAttribute('data-recipe'))), ['desks', 'workers'])
  const workers = page.locator('section.fleet[data-recipe="workers"]')
  assert.equal(await workers.locator('tr.node').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-hostname'))), ['w1', 'w2'])
  assert.is(await workers.locator('tr.node[data-hostname="w2"] code.boots').textContent(), second)
  assert.is(await page.locator('section.fleet[data-recipe="desks"] tr.node').count(), 1)
  await shot('fleets')
})

test('the move button moves a node: the published TFTP link and dnsmasq.conf follow', async () => {
  const before = await dnsmasqConf()
  assert.ok(before.indexOf(NODES.w2.mac) > before.indexOf('# workers:'), 'w2 starts in workers')
  await page.goto(serving.url)
  const row = page.locator('tr.node[data-hostname="w2"]')
  await row.locator('select[name="to"]').selectOption('desks')
  await row.getByRole('button', { name: 'Move…' }).click()
  await page.waitForURL(/\/move\?/)
  await shot('move-confirm')
  await page.getByRole('button', { name: 'Move w2 to desks' }).click()
  await page.waitForURL(/\/jobs\//)
  const outcome = page.locator('.outcome[data-state]')
  await outcome.waitFor({ timeout: 120_000 })
  await shot('move-done')
  assert.is(await outcome.getAttribute('data-state'), 'done', await outcome.textContent() ?? '')
  assert.match(await outcome.textContent() ?? '', 'w2 moved from workers to desks')
  const desks = (await readRecord(site(), 'desks'))!
  assert.is(await linkOf(NODES.w2.mac), `builds/desks/${desks.live}/dc-a6-32-00-61-02`, 'the TFTP link points at desks')
  const conf = await dnsmasqConf()
  assert.is(conf.split(NODES.w2.mac).length, 2, 'dnsmasq.conf lists w2 once')
  // The desks section: from its own header to the next recipe's; a missing header fails here.
  const header = conf.indexOf('# desks:')
  assert.ok(header >= 0, 'dnsmasq.conf has a # desks: section')
  const next = conf.slice(header + 1).search(/\n# [a-z0-9-]+: /) + header + 1
  const section = conf.slice(header, next > header ? next : undefined)
  assert.ok(section.includes(NODES.w2.mac), `w2 is listed under desks:\n${section}`)
  assert.not.ok(conf.slice(0, header).includes(NODES.w2.mac) || (next > header && conf.slice(next).includes(NODES.w2.mac)), 'w2 is listed nowhere else')
  assert.equal((await readRecord(site(), 'workers'))!.nodes.map((n) => n.hostname), ['w1'])
  assert.not.match(await readFile(fleets.files.workers, 'utf8'), NODES.w2.mac, 'the entry left workers.ts')
  assert.match(await readFile(fleets.files.desks, 'utf8'), `{ hostname: 'w2', mac: '${NODES.w2.mac}'`, 'and is in desks.ts')
  await page.goto(serving.url)
  assert.is(await page.locator('section.fleet[data-recipe="desks"] tr.node[data-hostname="w2"] code.boots').textContent(), desks.live)
})

test('the rollback button switches current and every node back, on disk', async () => {
  await buildsPageWithChanges('workers', second)
  assert.is(await page.locator('tr.build').count(), 2)
  assert.match(await page.locator(`tr.build[data-build="${second}"] .changes`).textContent() ?? '', /1 added, 0 removed, [1-9]\d* changed files/)
  await shot('builds')
  await page.locator(`tr.build[data-build="${second}"]`).getByRole('link', { name: 'full list' }).click()
  assert.match(await page.locator('pre.diff').textContent() ?? '', /^\+ \/etc\/pibake-web-test \(file 0644 0:0\)$/m, 'the file the second build added')
  assert.match(await page.locator('pre.diff').textContent() ?? '', /^~ \/etc\/motd: size /m)
  await shot('changes')
  await page.goto(`${base}recipes/workers`)
  await page.locator(`tr.build[data-build="${first}"]`).getByRole('link', { name: 'Roll back to this build…' }).click()
  await shot('rollback-confirm')
  await page.getByRole('button', { name: `Roll back to ${first}` }).click()
  const outcome = page.locator('.outcome')
  await outcome.waitFor()
  await shot('rollback-done')
  assert.match(await outcome.textContent() ?? '', `workers: live build ${second} → ${first}; nodes switched: w1`)
  assert.is(await readlink(join(fleets.publish, 'nfs/workers/current')), `builds/${first}`)
  assert.is(await linkOf(NODES.w1.mac), `builds/workers/${first}/dc-a6-32-00-61-01`)
  assert.is((await readRecord(site(), 'workers'))!.live, first)
})

/**
 * Opens a recipe's builds page until it shows what `build` changed: the server snapshots each
 * published demo tree once (seconds of work) and says meanwhile that it is being computed.
 */
async function buildsPageWithChanges(recipe: string, build: string): Promise<void> {
  const cell = page.locator(`tr.build[data-build="${build}"] td`).nth(5)
  for (let tries = 0; ; tries++) {
    await page.goto(`${base}recipes/${recipe}`)
    const text = await cell.textContent() ?? ''
    if (!text.includes('being computed')) return
    assert.ok(tries < 600, `the changes of ${build} were still being computed after ${tries} tries`)
    await sleep(500)
  }
}

test('a move the recipes cannot take is refused with why, and nothing changes', async () => {
  const before = [await readFile(fleets.files.workers, 'utf8'), await readFile(fleets.files.desks, 'utf8'), await dnsmasqConf()]
  await page.goto(serving.url)
  const row = page.locator('section.fleet[data-recipe="workers"] tr.node[data-hostname="w1"]')
  await row.locator('select[name="to"]').selectOption('desks')
  await row.getByRole('button', { name: 'Move…' }).click()
  assert.match(await page.locator('.outcome').textContent() ?? '', 'w1 is the only node of workers, and a recipe needs one')
  assert.equal([await readFile(fleets.files.workers, 'utf8'), await readFile(fleets.files.desks, 'utf8'), await dnsmasqConf()], before)
})

test('a move whose build fails puts both recipe files back; the site keeps the node where it was', async () => {
  const before = [await readFile(fleets.files.workers, 'utf8'), await readFile(fleets.files.desks, 'utf8'), await dnsmasqConf(), await linkOf(NODES.w2.mac)]
  const aside = `${fleets.image.img}.aside`
  await rename(fleets.image.img, aside)
  try {
    await page.goto(serving.url)
    const row = page.locator('tr.node[data-hostname="w2"]')
    await row.locator('select[name="to"]').selectOption('workers')
    await row.getByRole('button', { name: 'Move…' }).click()
    await page.getByRole('button', { name: 'Move w2 to workers' }).click()
    const outcome = page.locator('.outcome[data-state]')
    await outcome.waitFor({ timeout: 120_000 })
    await shot('move-failed')
    assert.is(await outcome.getAttribute('data-state'), 'failed')
    assert.match(await outcome.textContent() ?? '', basename(fleets.image.img))
    assert.match(await page.locator('ul.notes').textContent() ?? '', 'the site did not take w2: both recipe files are as they were')
  } finally {
    await rename(aside, fleets.image.img)
  }
  assert.equal([await readFile(fleets.files.workers, 'utf8'), await readFile(fleets.files.desks, 'utf8'), await dnsmasqConf(), await linkOf(NODES.w2.mac)], before)
})

test('a build started from the page runs pibake build and shows its task list', async () => {
  const runs = (await readdir(join(fleets.out, 'logs'))).filter((n) => n.startsWith('desks-')).length
  await page.goto(`${base}recipes/desks`)
  await page.getByRole('link', { name: 'Build…', exact: true }).click()
  await page.getByRole('button', { name: 'Build desks' }).click()
  await page.waitForURL(/\/jobs\//)
  const outcome = page.locator('.outcome[data-state]')
  await outcome.waitFor({ timeout: 120_000 })
  await shot('build-done')
  assert.is(await outcome.getAttribute('data-state'), 'done', await outcome.textContent() ?? '')
  assert.match(await outcome.textContent() ?? '', /^desks: build \S+ was live already \(unchanged\)/)
  assert.equal(await page.locator('li.task').evaluateAll((t) => t.map((e) => e.getAttribute('data-stage'))), ['image', 'extract', 'overlay', 'customize', 'netboot', 'publish'])
  assert.is((await readdir(join(fleets.out, 'logs'))).filter((n) => n.startsWith('desks-')).length, runs + 1, 'the build logged its run like any other')
  await page.goto(`${base}jobs`)
  assert.match(await page.locator('main table').textContent() ?? '', 'build desks')
  await shot('actions')
})

test('a build started on the command line is followed live from its log (server-sent events)', async () => {
  const logs = join(fleets.out, 'logs')
  const known = new Set(await readdir(logs))
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../bin/pibake.js'), 'build', fleets.files.workers, '--out', fleets.out, '--force', '--plain'], { stdio: 'ignore' })
  const exited = new Promise((done) => child.on('close', done))
  try {
    const log = join(logs, await waitFor(async () => (await readdir(logs)).find((n) => !known.has(n) && n.startsWith('workers-')), { what: "the build's log in out/logs" }))
    const response = await fetch(`${base}recipes/workers/live/events`, { headers: auth })
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let stream = ''
    const next = async () => {
      const { value, done } = await reader.read()
      if (!done) stream += value
      return done
    }
    // Live: the first stage's end arrives while the build is still writing its log (no summary yet).
    while (!/"type":"stage-end"/.test(stream)) assert.not.ok(await next(), `the stream ended before a stage ended:\n${stream}`)
    assert.not.match(await readFile(log, 'utf8'), '"type":"summary"', 'a stage-end came over the stream before the build ended')
    while (!(await next()));
    assert.match(stream, 'event: view', 'the rendered task list')
    assert.match(stream, /data: \{"time":"[^"]+","type":"stage-end","stage":"publish"/, 'the events as --json prints them')
    assert.match(stream, /event: end\ndata: (published|unchanged)/)
  } finally {
    await exited
  }
})

test('the page refuses forged and foreign requests, and names the site does not record', async () => {
  const live = (await readRecord(site(), 'workers'))!.live
  const post = (path: string, body: Record<string, string>, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { method: 'POST', body: new URLSearchParams(body), headers: { ...auth, ...headers }, redirect: 'manual' })
  assert.is((await fetch(`${base}recipes/workers`)).status, 401, 'no token')
  assert.is((await post('recipes/workers/rollback', { to: second })).status, 403, 'no CSRF token')
  const confirm = await (await fetch(`${base}recipes/workers/rollback?to=${second}`, { headers: auth })).text()
  const csrf = /name="csrf" value="([^"]+)"/.exec(confirm)![1]!
  assert.is((await post('recipes/workers/rollback', { to: second, csrf }, { origin: 'http://evil.example' })).status, 403, 'from another origin')
  assert.is((await readRecord(site(), 'workers'))!.live, live, 'nothing was rolled back')
  assert.is(await hostStatus('evil.example'), 421, 'a name rebound to 127.0.0.1')
  for (const path of ['recipes/..%2F..%2F..%2Fetc%2Fpasswd', 'recipes/workers/builds/..%2F..%2Fdesks/changes', `recipes/workers/rollback?to=..%2F..%2F${second}`, 'move?mac=..%2F..&to=desks']) {
    const response = await fetch(`${base}${path}`, { headers: auth })
    assert.is(response.status, 400, path)
    assert.match(await response.text(), /is not a recipe name|is not a build id|is not a MAC address/, path)
  }
  assert.is((await post('move', { mac: 'dc:a6:32:00:61:01', to: '../../etc', csrf })).status, 400)
  assert.is((await post('move', { mac: 'x'.repeat(100_000), to: 'desks', csrf })).status, 413, 'a body larger than a form is not read')
  const away = createApp({ site: site(), outDir: fleets.out, jobs: new Jobs() }, { listen: parseListen('192.0.2.1:8470'), token: 'the-token', csrf })
  assert.is((await away.request('http://192.0.2.1:8470/')).status, 401, 'another address: no token, no page')
  const entry = await away.request('http://192.0.2.1:8470/?token=the-token')
  assert.is(entry.status, 303)
  const cookie = entry.headers.get('set-cookie')!.split(';')[0]!
  assert.is((await away.request('http://192.0.2.1:8470/', { headers: { cookie } })).status, 200, 'the token, kept in a cookie')
  assert.throws(() => createApp({ site: site(), outDir: fleets.out, jobs: new Jobs() }, { listen: parseListen('0.0.0.0:8470'), csrf }), /needs a token/)
  assert.throws(() => createApp({ site: site(), outDir: fleets.out, jobs: new Jobs() }, { listen: parseListen('127.0.0.1:8470'), csrf }), /needs a token/, 'loopback too')
})

/** A GET with the Host header set (fetch does not let one set it). */
function hostStatus(host: string): Promise<number> {
  const url = new URL(serving.url)
  return new Promise((resolve, reject) => {
    request({ host: url.hostname, port: url.port, path: '/', headers: { ...auth, host } }, (response) => {
      response.resume()
      resolve(response.statusCode!)
    }).on('error', reject).end()
  })
}

test("from the site's dnsmasq log: when each node was last answered, what it fetched, and the new Pis", async () => {
  // dnsmasq runs as user dnsmasq: the TFTP tree must be reachable.
  await chmod(fleets.dir, 0o755)
  const stranger = 'dc:a6:32:00:99:42'
  await withLan([{ name: 'srv', address: '10.61.0.1/24' }, { name: 'cli' }], async (lan) => {
    const dnsmasq = await startDnsmasq(lan, 'srv', join(fleets.publish, 'dnsmasq.conf'), fleets.dir)
    const lease = await piDhcp(lan, 'cli', fleets.dir, NODES.w1.mac)
    assert.is(lease?.ip, NODES.w1.ip, dnsmasq.log())
    await tftpGet(lan, 'cli', fleets.dir, '10.61.0.1', 'cmdline.txt')
    await lan.run('cli', ['ip', 'addr', 'flush', 'dev', 'eth0'])
    assert.is(await piDhcp(lan, 'cli', fleets.dir, stranger), undefined, 'an unknown Pi gets no answer')
    assert.is(dnsmasq.logFile, join(fleets.dir, 'dnsmasq.log'), "dnsmasq logs where the recipes' netboot.log says")
    // No --log: the page finds the log the site's recipes name.
    const watching = await serve({ site: site(), outDir: fleets.out, listen: '127.0.0.1:0' })
    try {
      await page.goto(watching.url)
      const row = page.locator('tr.node[data-hostname="w1"]')
      assert.match(await row.locator('td.answered').textContent() ?? '', /^\w{3} [ \d]\d \d\d:\d\d:\d\d$/)
      assert.match(await row.locator('td.fetched').textContent() ?? '', /^cmdline\.txt /)
      assert.is(await page.locator('tr.node[data-hostname="desk1"] td.answered').textContent(), '—')
      await shot('fleets-dnsmasq')
      await page.goto(`${new URL(watching.url).origin}/new`)
      assert.is(await page.locator('tr.new-pi').count(), 1, `only the Pi the site does not know:\n${dnsmasq.log()}`)
      assert.is(await page.locator(`tr.new-pi[data-mac="${stranger}"] pre`).textContent(), `{ hostname: 'pi-009942', mac: '${stranger}', model: '4B' },`)
      await shot('new-pis')
    } finally {
      await watching.close()
    }
  })
})

test('pibake serve on the command line: prints its address, serves the site, stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../bin/pibake.js'), 'serve', '--out', fleets.out, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<number | null>((done) => child.on('close', done))
  try {
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => void (out += chunk.toString()))
    const url = new URL(await waitFor(() => /serving the site at (http:\S+)/.exec(out)?.[1], { what: 'pibake serve to print its address', seen: () => out }))
    assert.match(url.href, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/, 'a token on loopback too')
    assert.is((await fetch(url.origin)).status, 401, 'without it, no page')
    assert.match(await (await fetch(url.origin, { headers: { authorization: `Bearer ${url.searchParams.get('token')}` } })).text(), 'data-recipe="workers"')
  } finally {
    signal(child.pid!, 'SIGTERM')
  }
  assert.is(await exited, 0, 'SIGTERM ends it cleanly')
})

test('pibake report writes one file that opens from disk without network and shows the stage chart', async () => {
  const file = join(ARTIFACTS, 'workers-report.html')
  const result = await exec([process.execPath, join(import.meta.dirname, '../../bin/pibake.js'), 'report', 'workers', '-o', file, '--out', fleets.out])
  assert.match(result.stdout, `wrote ${file}`)
  const context = await browser.newContext({ offline: true, javaScriptEnabled: false })
  const requested: string[] = []
  context.on('request', (r) => void requested.push(r.url()))
  const report = await context.newPage()
  await report.goto(pathToFileURL(file).href)
  assert.equal(requested, [pathToFileURL(file).href], 'nothing but the file itself is loaded')
  assert.ok((await report.locator('figure.chart svg g.run').count()) >= 3, 'a bar per run')
  assert.ok((await report.locator('svg rect.bar[data-stage="publish"]').count()) >= 3)
  assert.is(await report.locator('form').count(), 0, 'no actions in a report')
  assert.match(await report.locator('tr.build details').first().innerText().catch(() => ''), /./)
  await report.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true })
  await context.close()
})

test.run()
