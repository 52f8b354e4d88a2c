/** `netboot.persist`: what a recipe may list, each refusal naming its entry, and what the recipe keeps. */
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { validateRecipe } from '../../src/recipe/validate.ts'
import minimal from './fixtures/valid/minimal.ts'
import { recipeProblems } from '../helpers/recipe-problems.ts'

const file = join(import.meta.dirname, 'fixtures', 'valid', 'inline.ts')

function withPersist(persist: unknown, more: Record<string, unknown> = {}): unknown {
  return { ...minimal, ...more, netboot: { ...minimal.netboot, persist, ...(more.netboot as object | undefined) } }
}

const problems = (input: unknown) => recipeProblems(input, file)

/** One bad entry each, named for the problem it must produce. */
const refused: Record<string, { readonly persist: unknown; readonly problem: string }> = {
  'relative path': { persist: ['var/lib/rancher'], problem: 'netboot.persist[0]: "var/lib/rancher" must be an absolute path' },
  'space': { persist: ['/var/lib/my data'], problem: 'netboot.persist[0]: "/var/lib/my data" contains white space' },
  'line break': { persist: ['/var/lib/x\n/etc'], problem: 'netboot.persist[0]: "/var/lib/x\\n/etc" contains white space' },
  'comma': { persist: ['/var/lib/a,b'], problem: 'netboot.persist[0]: "/var/lib/a,b" contains a comma' },
  'dot dot': { persist: ['/var/lib/../../etc'], problem: 'netboot.persist[0]: "/var/lib/../../etc" contains ".."' },
  'shell syntax': { persist: ['/var/lib/$(reboot)'], problem: 'netboot.persist[0]: "/var/lib/$(reboot)" contains a quote' },
  'the whole root': { persist: ['/'], problem: 'netboot.persist[0]: "/" is the whole root' },
  'the whole root, spelled otherwise': { persist: ['/./'], problem: 'netboot.persist[0]: "/./" is the whole root' },
  'a runtime filesystem': { persist: ['/run/k3s'], problem: 'netboot.persist[0]: "/run/k3s" is on /run' },
  'the boot files': { persist: ['/boot/firmware'], problem: 'netboot.persist[0]: "/boot/firmware" is on /boot' },
  'listed twice': { persist: ['/etc/rancher', '/etc/rancher/'], problem: 'netboot.persist[1]: lists /etc/rancher twice' },
  'one inside another': { persist: ['/var/lib', '/var/lib/docker'], problem: 'netboot.persist[1]: /var/lib/docker is inside /var/lib, which is persisted already' },
  'not a list': { persist: '/var/lib/rancher', problem: 'netboot.persist: must be a list' },
}

for (const [name, { persist, problem }] of Object.entries(refused)) {
  test(`refused: ${name}`, () => {
    const found = problems(withPersist(persist))
    assert.is(found.length, 1, `one problem: ${found.join(' | ')}`)
    assert.ok(found[0]!.startsWith(problem), `${found[0]} starts with ${problem}`)
  })
}

test('refused: a proxy-mode node without a fixed address (its folders go to its address alone)', () => {
  const nodes = [{ ...minimal.nodes[0]!, ip: undefined }, { hostname: 'node2', mac: 'dc:a6:32:01:02:04', ip: '192.168.1.22', model: '4B' }]
  const input = withPersist(['/var/lib/rancher'], { nodes, netboot: { dhcp: { mode: 'proxy', network: '192.168.1.0' } } })
  assert.equal(problems(input), ["nodes[0].ip: required with netboot.persist: each node's persisted folders are exported read-write to its address alone"])
  const without = { ...minimal, nodes, netboot: { ...minimal.netboot, dhcp: { mode: 'proxy', network: '192.168.1.0' } } }
  assert.not.throws(() => validateRecipe(without, file), 'the same fleet without persist is fine')
})

test('accepted: normalised paths, in the order given; a recipe without them has no persist at all', () => {
  const recipe = validateRecipe(withPersist(['/var/lib/rancher/', '/etc//rancher', '/var/lib/docker']), file)
  assert.equal(recipe.netboot.persist, ['/var/lib/rancher', '/etc/rancher', '/var/lib/docker'])
  assert.not.ok('persist' in validateRecipe(minimal, file).netboot, 'no persist key: the site record and the stage key stay as they were')
  assert.not.ok('persist' in validateRecipe(withPersist([]), file).netboot, 'an empty list is none')
})

test.run()
