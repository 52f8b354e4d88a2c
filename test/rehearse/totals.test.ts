/**
 * A storm's totals from per-node results: quantiles of the hand-off, MB/s per phase over the span
 * the phase ran, failures grouped, duplicate addresses counted, and the bottleneck named from how
 * nodes failed (no lease; no TFTP block at all; timed out mid-file).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { NodeResult } from '../../src/rehearse/node-result.ts'
import { mergeReports, totals, type StormReport } from '../../src/rehearse/storm.ts'

function result(index: number, fields: Partial<NodeResult> = {}): NodeResult {
  return {
    mac: `dc:a6:32:00:00:${index.toString(16).padStart(2, '0')}`,
    model: '4B',
    address: `10.0.0.${index + 1}`,
    completed: ['dhcp', 'tftp'],
    seconds: { dhcp: 1, tftp: 9 },
    bytes: { tftp: 40e6 },
    handoff: 10 + index,
    files: 14,
    error: undefined,
    leases: [{ address: `10.0.0.${index + 1}`, serverId: '10.0.0.254' }],
    ...fields,
  }
}

const failed = (index: number, what: string, file = 'kernel8.img'): NodeResult =>
  result(index, { completed: ['dhcp'], handoff: undefined, error: { phase: 'tftp', file, what } })

test('all done: quantiles of the hand-off, aggregate MB/s over the phase\'s span, the longest phase named', () => {
  const nodes = Array.from({ length: 20 }, (_, i) => result(i))
  const t = totals(nodes, nodes.map(() => 0))
  assert.is(t.completed, 20)
  assert.equal(t.handoff, { p50: 19, p95: 28, max: 29 }, 'nearest rank: the 10th and the 19th of 20')
  const tftp = t.phases.find((p) => p.phase === 'tftp')!
  assert.is(tftp.mbps, (20 * 40) / 9, 'bytes over the 9 s from the first start to the last end')
  assert.match(t.bottleneck, /^none failed; the longest phase is tftp/)
})

test('nodes that never got a block are a transfer-slot problem; nodes cut off mid-file a bandwidth one; no lease a DHCP one', () => {
  const starved = [result(0), failed(1, 'timeout (30 s, 0 bytes in)', 'config.txt'), failed(2, 'timeout (30 s, 0 bytes in)', 'fixup4.dat')]
  assert.match(totals(starved, [0, 0, 0]).bottleneck, /^TFTP transfer slots: 2 nodes/)
  const slow = [result(0), failed(1, 'timeout (30 s, 1000 bytes in)'), failed(2, 'timeout (30 s, 5 bytes in)')]
  assert.match(totals(slow, [0, 0, 0]).bottleneck, /^TFTP bandwidth: 2 nodes timed out mid-file \(kernel8\.img\)/)
  const noLease = [result(0, { completed: [], address: undefined, error: { phase: 'dhcp', what: 'no offer' } }), result(1)]
  assert.match(totals(noLease, [0, 0]).bottleneck, /^DHCP: 1 of 2 nodes got no usable lease \(no offer\)/)
  assert.equal(totals(slow, [0, 0, 0]).failures, { 'tftp: timeout (30 s) (kernel8.img)': 2 })
})

test('two nodes given one address are counted', () => {
  assert.is(totals([result(0), result(1, { address: '10.0.0.1' })], [0, 0]).duplicateAddresses, 1)
})

test('the reports of a storm\'s processes merge into the totals of all its nodes, on their one start', () => {
  // Node 0 on one process powered on at 0 s, node 1 on the other at 1 s: the TFTP phase ran from
  // 1 s to 11 s, so 80 MB over 10 s; each process alone saw a 9 s span.
  const report = (node: NodeResult, offset: number): StormReport => ({ nodes: [node], offsets: [offset], totals: totals([node], [offset]), seconds: offset + 10, cpuSeconds: 2, lateDhcpReplies: 3 })
  const merged = mergeReports([report(result(1, { address: '10.0.0.1' }), 1), report(result(0), 0)], [result(0).mac, result(1).mac])
  assert.equal(merged.nodes.map((n) => n.mac), [result(0).mac, result(1).mac], 'in the storm\'s order, whichever process ran them')
  assert.equal(merged.offsets, [0, 1], 'each offset stays with its node')
  assert.is(merged.totals.phases.find((p) => p.phase === 'tftp')!.mbps, 80 / 10)
  assert.is(merged.totals.duplicateAddresses, 1, 'an address two processes\' nodes were given is seen')
  assert.is(merged.seconds, 11)
  assert.is(merged.cpuSeconds, 4, 'the simulator\'s CPU is every process\'s')
  assert.is(merged.lateDhcpReplies, 6)
})

test.run()
