/**
 * The nodes' persisted folders at a site (`<nfs>/_persist/<mac>`) outlive their recipes: `unpublish`
 * and `gc` keep them unless told `--purge-node-data`; with it, `unpublish` removes its nodes'
 * folders that no other recipe lists, and `gc` the folders of nodes no recipe lists, leaving names
 * that are not a node's folder alone.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { macDir } from '../../src/netboot/layout.ts'
import { persistNodeDir, persistRoot } from '../../src/netboot/persist.ts'
import type { NodeInput } from '../../src/recipe/types.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'
import { gc, purgeNodeData, unpublish } from '../../src/site/ops.ts'
import { recordFor, withLive, type SiteRecord } from '../../src/site/record.ts'
import { renderSite } from '../../src/site/render.ts'
import { openSite, writeRecord } from '../../src/site/store.ts'
import minimal from '../recipe/fixtures/valid/minimal.ts'

const a1: NodeInput = { hostname: 'a1', mac: 'dc:a6:32:00:d0:01', ip: '192.168.1.31', model: '4B' }
const a2: NodeInput = { hostname: 'a2', mac: 'dc:a6:32:00:d0:02', ip: '192.168.1.32', model: '4B' }
const b1: NodeInput = { hostname: 'b1', mac: 'dc:a6:32:00:d0:03', ip: '192.168.1.33', model: '4B' }
/** A node that was in a recipe once and is in none now. */
const GONE = 'dc:a6:32:00:d0:09'

let dir: string
const site = () => openSite({ kind: 'local', path: join(dir, 'config') })
const nfs = () => join(dir, 'nfs')

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-node-data-'))
})
test.after.each(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The record a recipe of these nodes (persisting /var/lib/rancher) has once published. */
function record(name: string, nodes: readonly NodeInput[]): SiteRecord {
  const recipe = validateRecipe(
    { ...minimal, name, nodes, netboot: { ...minimal.netboot, nfs: { server: '192.168.1.2', path: nfs() }, persist: ['/var/lib/rancher'] } },
    join(import.meta.dirname, '../recipe/fixtures/valid', `${name}.ts`),
    { outDir: join(dir, 'out') },
  )
  const where = { nfs: { kind: 'local', path: nfs() }, tftp: { kind: 'local', path: join(dir, 'tftp') } } as const
  const now = new Date(Date.UTC(2026, 11, 1))
  return withLive(recordFor(recipe, where, { builds: 1, days: 0 }, undefined, now), '20261201-000000-1a2b3c4d', now)
}

/** Two recipes published, each node with its folder, a node no recipe lists, and a name that is no node's. */
async function publishedSite(): Promise<void> {
  await writeRecord(site(), record('lab-a', [a1, a2]))
  await writeRecord(site(), record('lab-b', [b1]))
  for (const mac of [a1.mac, a2.mac, b1.mac, GONE]) {
    await mkdir(join(persistNodeDir(nfs(), mac), 'var/lib/rancher'), { recursive: true })
    await writeFile(join(persistNodeDir(nfs(), mac), 'var/lib/rancher/state'), mac)
  }
  await writeFile(join(persistRoot(nfs()), 'README'), 'the admin\'s notes\n')
}

const there = async () => (await readdir(persistRoot(nfs()))).sort()
const all = () => [a1.mac, a2.mac, b1.mac, GONE].map(macDir).concat('README').sort()

test('without --purge-node-data, unpublish and gc keep every node\'s folders', async () => {
  await publishedSite()
  const result = await unpublish(site(), 'lab-a')
  assert.equal(result.nodeData, [], 'unpublish says it removed none')
  assert.equal(await there(), all(), 'unpublish removed no node folder')
  await gc(site(), { keep: { builds: 1, days: 0 } })
  assert.equal(await there(), all(), 'gc removed no node folder')
})

test('unpublish --purge-node-data removes its nodes\' folders, but not one another recipe lists', async () => {
  await publishedSite()
  // a2 moved to lab-b after lab-a's record was written (as build --take leaves it on the other side).
  await writeRecord(site(), record('lab-b', [b1, a2]))
  const result = await unpublish(site(), 'lab-a', { purgeNodeData: true })
  assert.equal(result.nodeData, [macDir(a1.mac)])
  assert.equal(await there(), [a2.mac, b1.mac, GONE].map(macDir).concat('README').sort(), "a2 is lab-b's now: its folder stays")
})

test('gc --purge-node-data removes the folders of nodes no recipe lists; --dry-run only says so', async () => {
  await publishedSite()
  await unpublish(site(), 'lab-a')
  const dry = await purgeNodeData(site(), { dryRun: true })
  const gone = [a1.mac, a2.mac, GONE].map((mac) => persistNodeDir(nfs(), mac))
  assert.equal(dry.removed, gone, 'the nodes of the unpublished recipe and the one no recipe lists')
  assert.equal(await there(), all(), 'a dry run removes nothing')
  const result = await purgeNodeData(site())
  assert.equal(result.removed, gone)
  assert.equal(result.kept, [macDir(b1.mac)])
  assert.equal(result.strange, [join(persistRoot(nfs()), 'README')], 'a name that is not a node\'s folder is said, and left')
  assert.equal(await there(), [macDir(b1.mac), 'README'].sort())
  assert.ok(existsSync(join(persistNodeDir(nfs(), b1.mac), 'var/lib/rancher/state')), "b1's data is whole")
})

test('the site\'s exports give each node its folder read-write, to its address alone; a node moved keeps its export', () => {
  const lines = (records: SiteRecord[]) => renderSite(records).exports.split('\n').filter((l) => l.includes('_persist'))
  const before = lines([record('lab-a', [a1, a2]), record('lab-b', [b1])])
  assert.equal(before.map((l) => l.replace(/,fsid=\d+\)$/, ')')), [
    `${persistNodeDir(nfs(), a1.mac)} ${a1.ip}(rw,sync,no_root_squash,no_subtree_check)`,
    `${persistNodeDir(nfs(), a2.mac)} ${a2.ip}(rw,sync,no_root_squash,no_subtree_check)`,
    `${persistNodeDir(nfs(), b1.mac)} ${b1.ip}(rw,sync,no_root_squash,no_subtree_check)`,
  ])
  const moved = lines([record('lab-a', [a1]), record('lab-b', [b1, a2])])
  assert.ok(moved.includes(before[1]!), `a2's export, fsid and all, is the same in its new recipe: ${moved.join(' | ')}`)
  const ganesha = renderSite([record('lab-a', [a1])])['ganesha.conf'].split('EXPORT {').find((b) => b.includes('_persist'))
  assert.match(ganesha ?? '', `CLIENT { Clients = ${a1.ip}; Access_Type = RW; }`)
})

test.run()
