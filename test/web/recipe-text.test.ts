/** Moving a node's entry between recipe sources: found by its `mac:` literal alone, cut and put back verbatim. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { findNodeEntry, insertEntryAfter, removeEntry } from '../../src/web/recipe-text.ts'

const RECIPE = `import { defineRecipe } from 'pibake'

// dc:a6:32:00:00:02 was node2's old board: a comment does not count
export default defineRecipe({
  name: 'lab',
  nodes: [
    { hostname: 'node1', mac: 'dc:a6:32:00:00:01', ip: '10.0.0.11', model: '4B' },
    {
      hostname: 'node2',
      mac: "DC:A6:32:00:00:02",
      model: '5',
      cmdline: ['quiet', 'x={}'],   // braces in a string
      config: [\`dtoverlay=\${'disable-wifi'}\`],
    },
    { hostname: 'node3', mac: 'dc:a6:32:00:00:03', model: '4B' }
  ],
})
`

test('finds the object literal whose mac: field is the MAC, in any case, past comments and braces in strings', () => {
  const span = findNodeEntry(RECIPE, 'dc:a6:32:00:00:02')!
  assert.ok(span)
  const text = RECIPE.slice(span.start, span.end)
  assert.ok(text.startsWith('{\n      hostname: \'node2\''))
  assert.ok(text.endsWith('`],\n    }'))
  assert.is(RECIPE.slice(...Object.values(findNodeEntry(RECIPE, 'DC:A6:32:00:00:01')!) as [number, number]), "{ hostname: 'node1', mac: 'dc:a6:32:00:00:01', ip: '10.0.0.11', model: '4B' }")
})

test('a node the source does not show as a literal is not found', () => {
  assert.is(findNodeEntry("nodes: [{ hostname: 'n', mac: prefix + '01' }]", 'dc:a6:32:00:00:01'), undefined)
  assert.is(findNodeEntry("nodes: [{ hostname: 'n', serial: 'dc:a6:32:00:00:01' }]", 'dc:a6:32:00:00:01'), undefined, 'another field')
  assert.is(findNodeEntry("a: { mac: 'dc:a6:32:00:00:01' }, b: { mac: 'dc:a6:32:00:00:01' }", 'dc:a6:32:00:00:01'), undefined, 'twice: ambiguous')
})

test('removing an entry takes its line and comma; the last one takes the comma before it', () => {
  const middle = removeEntry(RECIPE, findNodeEntry(RECIPE, 'dc:a6:32:00:00:02')!)
  assert.not.match(middle, "hostname: 'node2'")
  assert.match(middle, "model: '4B' },\n    { hostname: 'node3'")
  const last = removeEntry(RECIPE, findNodeEntry(RECIPE, 'dc:a6:32:00:00:03')!)
  assert.match(last, "`],\n    }\n  ],", 'node2 is last now, without a comma after it')
  assert.not.match(last, 'node3')
  const inline = "nodes: [{ mac: 'dc:a6:32:00:00:01' }, { mac: 'dc:a6:32:00:00:02' }]"
  assert.is(removeEntry(inline, findNodeEntry(inline, 'dc:a6:32:00:00:01')!), "nodes: [ { mac: 'dc:a6:32:00:00:02' }]")
  assert.is(removeEntry(inline, findNodeEntry(inline, 'dc:a6:32:00:00:02')!), "nodes: [{ mac: 'dc:a6:32:00:00:01' }]")
})

test('an entry is inserted after another, on its own line, indented alike, verbatim', () => {
  const entry = "{ hostname: 'w9', mac: 'dc:a6:32:00:00:09', model: '4B', cmdline: ['quiet'] }"
  const after = insertEntryAfter(RECIPE, findNodeEntry(RECIPE, 'dc:a6:32:00:00:03')!, entry)
  assert.match(after, `{ hostname: 'node3', mac: 'dc:a6:32:00:00:03', model: '4B' },\n    ${entry}\n  ],`)
  assert.ok(findNodeEntry(after, 'dc:a6:32:00:00:09'))
})

test.run()
