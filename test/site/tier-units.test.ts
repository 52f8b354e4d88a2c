/**
 * The NFS tier without a build: `netboot.nfs` as a list (validated and resolved, the one-server form
 * resolving exactly as before), the assignment of nodes to servers (balanced by count, stable, pins,
 * drained servers), site records of a tier read back strictly, and each server's exports listing
 * its own nodes alone.
 */
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError, RecipeError } from '../../src/errors.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'
import type { Recipe } from '../../src/recipe/types.ts'
import { recordFor, type SiteNode, type SiteRecord } from '../../src/site/record.ts'
import { parseSiteRecord } from '../../src/site/record-schema.ts'
import { renderSite, renderTier } from '../../src/site/render.ts'
import { assignNodes, placeOnTier } from '../../src/site/tier.ts'
import minimal from '../recipe/fixtures/valid/minimal.ts'

const file = join(import.meta.dirname, '../recipe/fixtures/valid/inline.ts')
const OUT = '/var/tmp/pibake-tier-out'
const A = '192.168.1.2'
const B = '192.168.1.3'
const C = 'nfs3.lab'

const node = (i: number, extra: object = {}) => ({ hostname: `n${i}`, mac: `dc:a6:32:00:00:${String(i).padStart(2, '0')}`, ip: `192.168.1.${20 + i}`, model: '4B', ...extra })

function tiered(change: (input: Record<string, any>) => void = () => {}): Record<string, any> {
  const input: Record<string, any> = structuredClone({ ...minimal, netboot: { ...minimal.netboot, nfs: [{ server: A }, { server: B, path: '/export/b' }] }, nodes: [node(1), node(2), node(3, { nfs: B })] })
  change(input)
  return input
}

function problems(input: unknown): string[] {
  try {
    validateRecipe(input, file, { outDir: OUT })
  } catch (error) {
    assert.instance(error, RecipeError)
    return [...(error as RecipeError).problems]
  }
  assert.unreachable('the recipe was accepted')
  return []
}

test('one NFS server resolves as it always did: no tier, no pin, the default target', () => {
  const recipe = validateRecipe(minimal, file, { outDir: OUT })
  assert.equal(recipe.netboot.nfs, { server: A, path: join(OUT, 'publish', 'nfs') })
  assert.not.ok('nfsTier' in recipe.netboot)
  assert.not.ok('nfsTier' in recipe.publish[0]!)
  assert.not.ok('nfs' in recipe.nodes[0]!)
  assert.equal(Object.keys(recipe.netboot), ['server', 'dhcp', 'nfs', 'hostKeys'])
})

test('several NFS servers: each with its path (given, or its destination in the first target), the pins kept', () => {
  const recipe = validateRecipe(tiered(), file, { outDir: OUT })
  assert.equal(recipe.netboot.nfsTier, [{ server: A, path: join(OUT, 'publish', `nfs-${A}`) }, { server: B, path: '/export/b' }])
  assert.equal(recipe.netboot.nfs, recipe.netboot.nfsTier![0])
  assert.equal(recipe.publish[0]!.nfsTier!.map((d) => d.path), [join(OUT, 'publish', `nfs-${A}`), join(OUT, 'publish', `nfs-${B}`)])
  assert.is(recipe.nodes[2]!.nfs, B)
  const given = validateRecipe(tiered((i) => (i.publish = [{ nfs: ['/srv/a', { host: 'root@nfs2', path: '/srv/b' }], tftp: '/srv/tftp' }])), file, { outDir: OUT })
  assert.equal(given.netboot.nfsTier!.map((s) => s.path), ['/srv/a', '/export/b'])
  assert.equal(given.publish[0]!.nfs, { kind: 'local', path: '/srv/a' })
  assert.is(given.publish[0]!.nfsTier![1]!.kind, 'ssh')
})

test('the tier refuses: a server twice, a target without one destination per server, a pin to no server, a pin with one server', () => {
  const twice = tiered((i) => {
    i.netboot.nfs = [{ server: A }, { server: A }]
    i.nodes[2].nfs = A
  })
  assert.equal(problems(twice), ['netboot.nfs[1].server: "192.168.1.2" is listed twice'])
  assert.equal(problems(tiered((i) => (i.publish = [{ nfs: '/srv/a', tftp: '/srv/tftp' }]))), ['publish[0].nfs: lists 1 destination for the 2 NFS servers of netboot.nfs'])
  assert.equal(problems(tiered((i) => (i.publish = [{ nfs: ['/srv/a', '/srv/b', '/srv/c'], tftp: '/srv/tftp' }]))), ['publish[0].nfs: lists 3 destinations for the 2 NFS servers of netboot.nfs'])
  assert.equal(problems(tiered((i) => (i.nodes[0].nfs = '192.168.1.9'))), ['nodes[0].nfs: "192.168.1.9" is not one of the NFS servers of netboot.nfs (192.168.1.2, 192.168.1.3)'])
  assert.equal(problems({ ...minimal, nodes: [node(1, { nfs: A })] }), ['nodes[0].nfs: pins the node to an NFS server, but netboot.nfs names only one'])
  assert.equal(problems({ ...minimal, publish: [{ nfs: ['/srv/a', '/srv/b'], tftp: '/srv/tftp' }] }), ['publish[0].nfs: lists 2 destinations, but netboot.nfs names one NFS server'])
  assert.equal(problems(tiered((i) => (i.nodes[0].ip = B))), ['nodes[0].ip: 192.168.1.3 is an NFS server\'s address (netboot.nfs[1].server)'])
  assert.equal(problems(tiered((i) => (i.netboot.nfs = [{ server: A }]))), ['netboot.nfs: must list at least two NFS servers (or give the one as { server, path? })'])
})

const site = (nfs: string, i: number): SiteNode => ({ hostname: `o${i}`, mac: `b8:27:eb:00:00:${String(i).padStart(2, '0')}`, model: '3B+', nfs })

test('assignment: balanced by count over the whole site, first server on a tie', () => {
  const nodes = [1, 2, 3, 4, 5].map((i) => ({ hostname: `n${i}`, mac: `m${i}`, model: '4B' as const }))
  const placed = assignNodes({ servers: [A, B, C], drained: [], nodes, others: [site(A, 1), site(A, 2)] })
  assert.equal(placed.map((n) => n.nfs), [B, C, B, C, A])
  assert.ok(placed.every((n) => !n.pinned))
})

test('assignment is stable: a node keeps its server whatever the balance; pins win; a drained server gets none', () => {
  const nodes = [1, 2, 3, 4].map((i) => ({ hostname: `n${i}`, mac: `m${i}`, model: '4B' as const }))
  const previous = nodes.map((n) => ({ ...n, nfs: A }))
  assert.equal(assignNodes({ servers: [A, B], drained: [], nodes, previous, others: [] }).map((n) => n.nfs), [A, A, A, A], 'stable across rebuilds')
  const pinned = assignNodes({ servers: [A, B], drained: [], nodes: [{ ...nodes[0]!, nfs: B }, ...nodes.slice(1)], previous, others: [] })
  assert.equal(pinned.map((n) => [n.nfs, n.pinned ?? false]), [[B, true], [A, false], [A, false], [A, false]])
  assert.equal(assignNodes({ servers: [A, B], drained: [A], nodes, previous, others: [] }).map((n) => n.nfs), [B, B, B, B], 'nodes of a drained server go elsewhere')
  assert.equal(assignNodes({ servers: [A, B, C], drained: [B], nodes, others: [] }).map((n) => n.nfs), [A, C, A, C])
})

test('assignment refuses a node pinned to a drained server, and a tier with every server drained', () => {
  const nodes = [{ hostname: 'n1', mac: 'm1', model: '4B' as const, nfs: B }]
  assert.throws(() => assignNodes({ servers: [A, B], drained: [B], nodes, others: [] }), (e: unknown) => e instanceof PibakeError && /node n1 is pinned to the NFS server 192\.168\.1\.3, which is drained/.test(e.message) && /pibake undrain 192\.168\.1\.3/.test(e.hint ?? ''))
  assert.throws(() => assignNodes({ servers: [A, B], drained: [A, B], nodes: [{ hostname: 'n1', mac: 'm1', model: '4B' }], others: [] }), /every NFS server of the site is drained/)
})

/** A tier record of the recipe as publish writes it: placed on the site with `others`. */
function record(recipe: Recipe, others: SiteRecord[] = []): SiteRecord {
  const target = recipe.publish[0]!
  const candidate = recordFor(recipe, { nfs: target.nfs, tftp: target.tftp, nfsTier: target.nfsTier! }, target.keep, undefined, new Date(Date.UTC(2026, 11, 1)))
  return placeOnTier(candidate, recipe, others)
}

test('a tier record is written and read back; one naming a server it lacks is refused, field by field', () => {
  const written = record(validateRecipe(tiered(), file, { outDir: OUT }))
  assert.equal(written.nodes.map((n) => [n.hostname, n.nfs]), [['n1', A], ['n2', A], ['n3', B]], 'n3 pinned to B, the other two balanced')
  const parsed = parseSiteRecord(JSON.parse(JSON.stringify(written)), written.recipe)
  assert.ok('record' in parsed, JSON.stringify(parsed))
  const bad = (change: (r: any) => void) => {
    const r = JSON.parse(JSON.stringify(written))
    change(r)
    const p = parseSiteRecord(r, written.recipe)
    return 'problems' in p ? p.problems : []
  }
  assert.equal(bad((r) => (r.nodes[0].nfs = '10.9.9.9')), ['nodes[0].nfs: "10.9.9.9" is not one of the record\'s NFS servers (192.168.1.2, 192.168.1.3)'])
  assert.equal(bad((r) => delete r.nodes[1].nfs), ["nodes[1].nfs: missing (the node's NFS server)"])
  assert.equal(bad((r) => (r.drained = ['../x'])), ['drained[0]: "../x" is neither an IPv4 address nor a host name'])
  assert.equal(bad((r) => r.where.nfsTier.pop()), ['where.nfsTier: must list two destinations or more, one per NFS server'])
  assert.equal(bad((r) => (r.where.nfsTier = [...r.where.nfsTier, r.where.nfs])), ['where.nfsTier: must list one destination for each of the 2 NFS servers'])
})

test("each server's exports list its own nodes (and their persisted folders); the shared folder is on the first; the site's own files point at them", () => {
  const recipe = validateRecipe(tiered((i) => {
    i.netboot.persist = ['/var/lib/data']
    i.netboot.shared = { path: '/srv/shared' }
  }), file, { outDir: OUT })
  const r = record(recipe)
  const tier = renderTier([r])
  assert.equal([...tier.keys()], [A, B])
  const a = tier.get(A)!.exports
  const b = tier.get(B)!.exports
  assert.match(a, `${join(OUT, 'publish', `nfs-${A}`, 'minimal', 'nodes', 'dc-a6-32-00-00-01')} 192.168.1.21(ro`)
  assert.match(a, `${join(OUT, 'publish', `nfs-${A}`, '_persist', 'dc-a6-32-00-00-02')}`)
  assert.not.match(a, 'dc-a6-32-00-00-03', 'n3 is on B')
  assert.match(b, '/export/b/minimal/nodes/dc-a6-32-00-00-03 192.168.1.23(ro')
  assert.match(b, '/export/b/_persist/dc-a6-32-00-00-03 192.168.1.23(rw')
  assert.match(b, '/export/b/minimal/builds ')
  assert.not.match(b, 'dc-a6-32-00-00-01')
  assert.match(a, '/srv/shared ')
  assert.not.match(b, '/srv/shared')
  assert.match(tier.get(B)!['ganesha.conf'], 'Path = "/export/b/minimal/builds"')
  const own = renderSite([r])
  assert.match(own.exports, `nfs/${A}/, nfs/${B}/`)
  assert.not.match(own.exports, '/builds')
})

test.run()
