/** validateRecipe on values no recipe file would produce, and the shape of its error. */
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { RecipeError } from '../../src/errors.ts'
import { formatPath } from '../../src/recipe/problems.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'
import minimal from './fixtures/valid/minimal.ts'
import { recipeProblems } from '../helpers/recipe-problems.ts'

const file = join(import.meta.dirname, 'fixtures', 'valid', 'inline.ts')

const problems = (input: unknown) => recipeProblems(input, file)

test('field paths read like JavaScript', () => {
  assert.is(formatPath(['nodes', 3, 'mac']), 'nodes[3].mac')
  assert.is(formatPath(['publish', 0, 'odd key']), 'publish[0]["odd key"]')
  assert.is(formatPath([]), 'recipe')
})

test('something that is not an object is one problem at the top', () => {
  assert.equal(problems('lab'), ['recipe: must be an object, not "lab"'])
  assert.equal(problems(null), ['recipe: must be an object, not null'])
})

test('an empty object names each missing required field once', () => {
  assert.equal(problems({}), ['name: required', 'image: required', 'netboot: required', 'nodes: required'])
})

test('wrong types say what was expected and what was given', () => {
  assert.equal(problems({ ...minimal, nodes: 'node1' }), ['nodes: must be a list, not "node1"'])
  assert.equal(problems({ ...minimal, overlays: [7] }), ['overlays[0]: must be a string, not 7'])
  assert.equal(problems({ ...minimal, publish: [{ nfs: 3, tftp: '/srv/tftp' }] }), [
    'publish[0].nfs: must be a local folder (a string) or an SSH destination { host, path, port?, identity?, knownHosts? }',
  ])
})

test('an unknown field far from any real one lists the fields that exist', () => {
  assert.equal(problems({ ...minimal, comment: 'x' }), ['comment: unknown field (the fields here are name, image, overlays, customize, netboot, nodes, publish, sourceDateEpoch)'])
})

test('the error lists the problems in its message and carries a hint', () => {
  try {
    validateRecipe({ ...minimal, name: 'Lab' }, file)
    assert.unreachable()
  } catch (error) {
    const e = error as RecipeError
    assert.is(e.message, `${file}: 1 problem in the recipe\n  - name: "Lab" is not a valid name (lower-case letters, digits and "-", not starting with "-", at most 63 characters)`)
    assert.match(e.hint ?? '', 'defineRecipe')
  }
})

test('a node at the NFS server\'s address is refused too', () => {
  const nodes = [{ hostname: 'node1', mac: 'dc:a6:32:01:02:03', ip: '192.168.1.2', model: '4B' }]
  assert.equal(problems({ ...minimal, nodes }), ["nodes[0].ip: 192.168.1.2 is the NFS server's address (netboot.nfs.server)"])
})

test('with the server address itself wrong, the range must still lie in one subnet, start first', () => {
  const dhcp = { mode: 'range', start: '192.168.1.100', end: '192.168.2.10', netmask: '255.255.255.0' }
  assert.equal(problems({ ...minimal, netboot: { ...minimal.netboot, server: 'dnsmasq-host', dhcp } }), [
    'netboot.server: "dnsmasq-host" is not an IPv4 address',
    'netboot.dhcp.end: 192.168.2.10 is not in the subnet of netboot.dhcp.start (192.168.1.0/24)',
  ])
  const reversed = { mode: 'range', start: '192.168.1.200', end: '192.168.1.100', netmask: '255.0.255.0' }
  assert.equal(problems({ ...minimal, netboot: { ...minimal.netboot, dhcp: reversed } }), [
    'netboot.dhcp.netmask: "255.0.255.0" is not a netmask (like 255.255.255.0)',
    'netboot.dhcp.end: 192.168.1.100 comes before the start of the range (192.168.1.200)',
  ])
})

test('proxy mode has no subnet to hold nodes to', () => {
  const netboot = { ...minimal.netboot, dhcp: { mode: 'proxy', network: '192.168.1.0' } }
  const nodes = [{ hostname: 'node1', mac: 'dc:a6:32:01:02:03', ip: '10.9.9.9', model: '4B' }]
  assert.is(validateRecipe({ ...minimal, netboot, nodes }, file).nodes[0]?.ip, '10.9.9.9')
})

test.run()
