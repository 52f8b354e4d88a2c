/**
 * `netboot.bootLinkMbps` and the boot files a site measured: what sizes the published dnsmasq.conf
 * for a fleet powered on at once. The recipe's field (kept, each refusal named), and the site's load
 * from its records: the largest file and bytes per node of each live build (the defaults of
 * src/netboot/sizing.ts for a record not measured yet), the smallest link any recipe names.
 */
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { GIGABIT_BYTES, TYPICAL_BOOT_BYTES, TYPICAL_KERNEL_BYTES } from '../../src/netboot/sizing.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'
import type { SiteRecord } from '../../src/site/record.ts'
import { renderSite, siteBootLoad } from '../../src/site/render.ts'
import minimal from '../recipe/fixtures/valid/minimal.ts'
import { recipeProblems } from '../helpers/recipe-problems.ts'

const file = join(import.meta.dirname, '../recipe/fixtures/valid/inline.ts')

function withLink(bootLinkMbps: unknown): unknown {
  return { ...minimal, netboot: { ...minimal.netboot, bootLinkMbps } }
}

const problems = (input: unknown) => recipeProblems(input, file)

test('the link is kept in Mbit/s; a recipe without it has none (1 GbE assumed)', () => {
  assert.is(validateRecipe(withLink(10_000), file).netboot.bootLinkMbps, 10_000)
  assert.not.ok('bootLinkMbps' in validateRecipe(minimal, file).netboot)
})

test('refused, each naming the field: not a number, a fraction, too slow, too fast', () => {
  for (const [value, expected] of [
    ['10G', 'must be a number of Mbit/s (1000 for 1 GbE, 10000 for 10 GbE)'],
    [2.5, 'must be a whole number of Mbit/s'],
    [0, 'must be at least 10 Mbit/s'],
    [10 ** 9, 'must be at most 800000 Mbit/s'],
  ] as const) {
    const found = problems(withLink(value))
    assert.is(found.length, 1, found.join(' | '))
    assert.match(found[0]!, `netboot.bootLinkMbps: ${expected}`)
  }
})

/** A record of `nodes` Pi 4Bs (addresses from 10.77.<block>.1) with what its live build measured. */
function record(recipe: string, nodes: number, block: number, extra: Partial<SiteRecord> = {}, link?: number): SiteRecord {
  return {
    format: 1,
    recipe,
    file: `/srv/recipes/${recipe}.ts`,
    netboot: { server: '10.77.0.1', dhcp: { mode: 'range', start: '10.77.0.100', end: '10.77.0.150', netmask: '255.255.0.0', dns: [] }, nfs: { server: '10.77.0.2', path: '/srv/nfs' }, ...(link === undefined ? {} : { bootLinkMbps: link }) },
    nodes: Array.from({ length: nodes }, (_, i) => ({ hostname: `${recipe}-${i}`, mac: `dc:a6:32:${block.toString(16).padStart(2, '0')}:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, ip: `10.77.${block + (i >> 8)}.${(i & 0xff) + 1}`, model: '4B' as const })),
    where: { nfs: { kind: 'local', path: '/srv/nfs' }, tftp: { kind: 'local', path: '/srv/tftp' } },
    builds: [],
    keep: { builds: 3, days: 7 },
    updated: '2026-12-07T12:00:00.000Z',
    ...extra,
  }
}

test("the site's load: the largest file of any live build, bytes per node weighted by nodes; an unmeasured record counts as the defaults", () => {
  const shrunk = record('shrunk', 600, 1, { boot: { largestFile: 11_538_320, bytesPerNode: 19_088_391 } })
  const plain = record('plain', 400, 4, { boot: { largestFile: 32_956_352, bytesPerNode: 42_621_149 } })
  assert.equal(siteBootLoad([shrunk]), { largestFile: 11_538_320, bytesPerNode: 19_088_391 })
  assert.equal(siteBootLoad([shrunk, plain]), { largestFile: 32_956_352, bytesPerNode: Math.ceil((600 * 19_088_391 + 400 * 42_621_149) / 1000) })
  const unmeasured = record('new', 400, 4)
  assert.equal(siteBootLoad([shrunk, unmeasured]), { largestFile: TYPICAL_KERNEL_BYTES, bytesPerNode: Math.ceil((600 * 19_088_391 + 400 * TYPICAL_BOOT_BYTES) / 1000) })
  assert.equal(siteBootLoad([unmeasured]), {}, 'nothing measured: the defaults, as before')
})

test('the smallest link a recipe names; the published dnsmasq.conf sized by it and by what the builds measured', () => {
  const fast = record('fast', 1000, 1, { boot: { largestFile: 11_538_320, bytesPerNode: 19_088_391 } }, 10_000)
  assert.is(siteBootLoad([fast]).linkBytesPerSecond, 10 * GIGABIT_BYTES)
  assert.is(siteBootLoad([fast, record('slow', 0, 9, {}, 2500)]).linkBytesPerSecond, 2.5 * GIGABIT_BYTES)
  // 1,000 nodes x 19.1 MB take 10 GbE 16 s: every transfer at once (3 per node), not the 1 GbE cap.
  assert.match(renderSite([fast])['dnsmasq.conf'], /^tftp-max=3000$/m)
  const gigabit = record('fast', 1000, 1, { boot: { largestFile: 11_538_320, bytesPerNode: 19_088_391 } })
  const conf = renderSite([gigabit])['dnsmasq.conf']
  assert.match(conf, /^tftp-max=152$/m)
  assert.match(conf, '1000 Mbit/s link, largest boot file 11.5 MB, 19.1 MB per node per boot')
  assert.match(renderSite([record('plain', 1000, 1)])['dnsmasq.conf'], /^tftp-max=50$/m, 'no measure, no link: the demo kernel on 1 GbE, as before')
})

test.run()
