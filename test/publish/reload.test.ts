/**
 * A local target's `reload.dnsmasq` (src/stages/publish.ts) runs when a file of either dnsmasq the
 * boot server runs changed: dnsmasq.conf, or the Pi 3s' own dnsmasq-pi3.conf of a split fleet
 * (netboot.pi3Server). A Pi 3 node's new address changes the Pi 3s' file alone: dnsmasq.conf
 * ignores them, and counts them only. The split needs a fleet whose TFTP transfers are capped: a
 * second recipe of 1,000 nodes, recorded at the same site (its record as its own publish leaves
 * it, with no build measured), makes the site's fleet that large.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import type { NetbootModel } from '../../src/recipe/types.ts'
import type { SiteRecord } from '../../src/site/record.ts'
import { makeProject, type Project } from '../helpers/project.ts'

let project: Project
const site = () => join(project.dir, 'site')
const marker = () => join(project.dir, 'reloaded')
const MODELS: readonly NetbootModel[] = ['3B+', '4B', '5']

/** Publishes the project with a Pi 3B+ at `pi3Address`; returns the site files it says it wrote. */
async function publish(pi3Address: string): Promise<string[]> {
  const events: BuildEvent[] = []
  const recipe = project.recipe((input) => {
    input.netboot = { server: '10.99.0.1', pi3Server: '10.99.0.3', dhcp: { mode: 'range', start: '10.99.200.1', end: '10.99.200.250', netmask: '255.255.0.0' }, nfs: { server: '10.99.0.2' } }
    input.nodes = [...input.nodes, { hostname: 'gamma', mac: 'b8:27:eb:00:00:03', ip: pi3Address, model: '3B+' }]
    input.publish = [{ nfs: join(site(), 'nfs'), tftp: join(site(), 'tftp'), config: site(), reload: { dnsmasq: `echo dnsmasq >> ${marker()}` } }]
  })
  await build(recipe, { outDir: project.out, onEvent: (event) => events.push(event) })
  const wrote = events.flatMap((e) => (e.type === 'info' && e.stage === 'publish' ? [/: wrote (.*)$/.exec(e.message)?.[1]] : [])).find(Boolean)
  return wrote ? wrote.split(', ').sort() : []
}

/** How many times the reload command ran since the last call. */
function reloads(): number {
  if (!existsSync(marker())) return 0
  const count = readFileSync(marker(), 'utf8').split('\n').filter(Boolean).length
  rmSync(marker())
  return count
}

test.before(async () => {
  project = await makeProject()
})
test.after(async () => {
  await project.remove()
})

test('reload.dnsmasq runs when only the Pi 3s\' dnsmasq-pi3.conf changed, and not when nothing did', async () => {
  await publish('10.99.0.13')
  assert.is(reloads(), 1, 'the first publish wrote dnsmasq.conf')
  // Another recipe of the site: 1,000 nodes, a third of them Pi 3B+, as its record would be.
  const own = JSON.parse(readFileSync(join(site(), 'pibake', 'test-node.json'), 'utf8')) as SiteRecord
  const nodes = Array.from({ length: 1000 }, (_, i) => ({ hostname: `rack-${i}`, mac: `dc:a6:32:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, ip: `10.99.${10 + Math.floor(i / 200)}.${(i % 200) + 10}`, model: MODELS[i % 3]! }))
  const { live: _live, boot: _boot, ...rest } = own
  writeFileSync(join(site(), 'pibake', 'rack.json'), JSON.stringify({ ...rest, recipe: 'rack', file: '/srv/recipes/rack.ts', nodes, builds: [] }))
  assert.equal(await publish('10.99.0.13'), ['dnsmasq-pi3.conf', 'dnsmasq.conf', 'exports', 'ganesha.conf', 'hosts'], 'the site\'s fleet is split now')
  assert.is(reloads(), 1)
  assert.match(readFileSync(join(site(), 'dnsmasq-pi3.conf'), 'utf8'), /^dhcp-host=b8:27:eb:00:00:03,.*,10\.99\.0\.13,gamma$/m)

  const before = readFileSync(join(site(), 'dnsmasq.conf'), 'utf8')
  const wrote = await publish('10.99.0.14')
  assert.ok(wrote.includes('dnsmasq-pi3.conf') && !wrote.includes('dnsmasq.conf'), `the Pi 3's new address changed its dnsmasq's file alone: ${wrote.join(', ')}`)
  assert.is(readFileSync(join(site(), 'dnsmasq.conf'), 'utf8'), before)
  assert.match(readFileSync(join(site(), 'dnsmasq-pi3.conf'), 'utf8'), /^dhcp-host=b8:27:eb:00:00:03,.*,10\.99\.0\.14,gamma$/m)
  assert.is(reloads(), 1, 'reload.dnsmasq ran: it restarts both dnsmasq')

  assert.equal(await publish('10.99.0.14'), [], 'the same again: no site file changed')
  assert.is(reloads(), 0, 'and no reload')
})

test.run()
