/** `netboot.root` and a node's `memory`: what a recipe may say, each refusal named, and what the recipe keeps. */
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { validateRecipe } from '../../src/recipe/validate.ts'
import { parseMemory, requireRamFits, RAM_MARGIN_BYTES, tooSmallForRam } from '../../src/roots/memory.ts'
import minimal from '../recipe/fixtures/valid/minimal.ts'
import { recipeProblems } from '../helpers/recipe-problems.ts'

const file = join(import.meta.dirname, '../recipe/fixtures/valid/inline.ts')
const MIB = 1024 * 1024

function recipe(root: unknown, memory?: unknown): unknown {
  const nodes = minimal.nodes.map((node, index) => (index === 0 && memory !== undefined ? { ...node, memory } : node))
  return { ...minimal, nodes, netboot: { ...minimal.netboot, ...(root === undefined ? {} : { root }) } }
}

const problems = (input: unknown) => recipeProblems(input, file)

test("no root, or 'nfs', resolves as a recipe always did: no root field", () => {
  assert.not.ok('root' in validateRecipe(recipe(undefined), file).netboot)
  assert.not.ok('root' in validateRecipe(recipe('nfs'), file).netboot)
})

test('the other modes are kept', () => {
  for (const mode of ['overlay', 'squashfs', 'ram']) assert.is(validateRecipe(recipe(mode), file).netboot.root, mode)
})

test('refused: an unknown mode, named with the ones there are', () => {
  const found = problems(recipe('tmpfs'))
  assert.is(found.length, 1, found.join(' | '))
  assert.match(found[0]!, /^netboot\.root: must be one of 'nfs', 'overlay', 'squashfs', 'ram'/)
})

test('memory: MB and GB in binary units, kept in bytes; a node without it has none', () => {
  const nodes = validateRecipe(recipe('ram', '1GB'), file).nodes
  assert.is(nodes[0]!.memory, 1024 * MIB)
  assert.not.ok(nodes.slice(1).some((node) => 'memory' in node))
  assert.is(parseMemory('512MB'), 512 * MIB)
  assert.is(parseMemory('1.5 GB'), 1536 * MIB)
  assert.is(parseMemory('8gb'), 8192 * MIB)
})

test('refused: memory that is not an amount', () => {
  for (const bad of ['lots', '4', '4TB', '0MB']) {
    const found = problems(recipe('ram', bad))
    assert.is(found.length, 1, found.join(' | '))
    assert.match(found[0]!, /^nodes\[0\]\.memory: .* is not an amount of memory \(like '1GB', '8GB' or '512MB'\)/)
  }
})

test('ram: a node whose memory cannot hold the image and the margin is refused with the numbers; one that can, or states none, passes', () => {
  const nodes = [{ hostname: 'small', memory: 1024 * MIB }, { hostname: 'big', memory: 4096 * MIB }, { hostname: 'unsaid' }]
  assert.equal(tooSmallForRam(nodes, 400 * MIB), [])
  assert.equal(tooSmallForRam(nodes, 600 * MIB), [{ hostname: 'small', memory: 1024 * MIB }])
  assert.is(1024 * MIB - 600 * MIB < RAM_MARGIN_BYTES, true)
  try {
    requireRamFits(nodes, 600 * MIB, 'this build')
    assert.unreachable('refused')
  } catch (error) {
    assert.match((error as Error).message, "small (1.0 GiB) cannot hold the root in memory: the image (this build) is 600 MiB, plus 512 MiB to run, needs 1.1 GiB")
  }
})

test.run()
