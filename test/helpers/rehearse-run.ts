/**
 * Runs `rehearse()` in the namespace this process was started in (a test's "operator" host on its
 * LAN): reads { recipes, interface, nodes } as JSON on stdin, prints the Rehearsal as JSON.
 *
 *   ip netns exec NS node test/helpers/rehearse-run.ts < options.json
 */
import { text } from 'node:stream/consumers'
import type { Recipe } from '../../src/recipe/types.ts'
import { rehearse } from '../../src/rehearse/rehearse.ts'

const options = JSON.parse(await text(process.stdin)) as { recipes: Recipe[]; interface: string; nodes?: number }
const result = await rehearse({ recipes: options.recipes, interface: options.interface, ...(options.nodes ? { nodes: options.nodes } : {}), deadlineMs: 120_000 })
process.stdout.write(`${JSON.stringify(result)}\n`)
