/**
 * The boot loop of a simulated node, against fake attempts (no sockets): a Pi 4/5 whose network
 * boot failed starts again (NET_BOOT_MAX_RETRIES retries, then BOOT_ORDER's RESTART) until it boots
 * or the storm ends; a Pi 3 does not; a failure after the kernel hand-off is not the firmware's.
 * Each attempt is kept (when it began, why, how far it got, its error), every lease it took is
 * accounted, and the totals count attempts, restarts and the leases, and tell duplicates apart from
 * a node leased its own address again.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { DhcpPort, SimulatedPi } from '../../src/rehearse/dhcp-client.ts'
import { bootNode } from '../../src/rehearse/node.ts'
import type { AttemptFn, AttemptOutcome, BootContext, NodeError } from '../../src/rehearse/node-result.ts'
import { totals } from '../../src/rehearse/storm.ts'

const pi = (model: SimulatedPi['model'], last = 1): SimulatedPi => ({ mac: `dc:a6:32:00:00:${last.toString(16).padStart(2, '0')}`, model, serial: '5eed0001' })

function context(signal = new AbortController().signal, bootLoop: BootContext['bootLoop'] = { restartMs: 5, retryDelayMs: 1 }): BootContext {
  return { port: null as unknown as DhcpPort, signal, claimAddress: async () => {}, expected: () => undefined, bootLoop }
}

const timeout: NodeError = { phase: 'tftp', file: 'kernel8.img', what: 'timeout (30 s, 1000 bytes in)' }
const noOffer: NodeError = { phase: 'dhcp', what: 'no offer' }

/** Attempts that fail with `errors` in turn, then one that reaches the hand-off; each leases `address`. */
function scripted(errors: readonly NodeError[], address = '10.0.0.9', later?: NodeError): AttemptFn & { calls: number } {
  const fn = Object.assign(async (): Promise<AttemptOutcome> => {
    const error = errors[fn.calls]
    fn.calls += 1
    const lease = error?.phase === 'dhcp' ? undefined : { address, serverId: '10.0.0.1' }
    if (error) return { completed: error.phase === 'dhcp' ? [] : ['dhcp'], seconds: {}, bytes: { tftp: 1000 }, spans: { tftp: [fn.calls, fn.calls + 0.5] }, handoff: undefined, files: 3, error, lease, retriedFiles: 0 }
    return { completed: later ? ['dhcp', 'tftp'] : ['dhcp', 'tftp'], seconds: { dhcp: 1, tftp: 2 }, bytes: { tftp: 40_000 }, spans: { tftp: [fn.calls, fn.calls + 2] }, handoff: 7, files: 14, error: later, lease, slowestFile: { file: 'kernel8.img', seconds: 2, limit: 30 }, retriedFiles: 1 }
  }, { calls: 0 })
  return fn
}

test('a Pi 4 starts again after each failed attempt, DHCP first, until it boots: every attempt kept, its bytes summed, its one lease counted once', async () => {
  const attempt = scripted([timeout, noOffer, timeout])
  const node = await bootNode(pi('4B'), context(), attempt)
  assert.is(attempt.calls, 4)
  assert.equal(node.attempts!.map((a) => [a.after, a.error?.phase ?? 'booted']), [['power-on', 'tftp'], ['restart', 'dhcp'], ['restart', 'tftp'], ['restart', 'booted']])
  assert.equal(node.attempts![0]!.error, timeout, "each failed attempt's first error")
  assert.is(node.error, undefined)
  assert.is(node.handoff, 7)
  assert.is(node.bytes.tftp, 3 * 1000 + 40_000, 'what every attempt received')
  assert.equal(node.spans!.tftp, [1, 6], 'the phase over every attempt: from the first start to the last end')
  assert.equal(node.leases, [{ address: '10.0.0.9', serverId: '10.0.0.1' }], 'the same address leased three times is one lease')
  assert.ok(node.attempts!.every((a, i) => i === 0 || a.at >= node.attempts![i - 1]!.at), 'in order')
})

test('NET_BOOT_MAX_RETRIES: the network is retried that many times, then BOOT_ORDER restarts, and the count starts over', async () => {
  const attempt = scripted([timeout, timeout, timeout, timeout, timeout])
  const node = await bootNode(pi('5'), context(undefined, { netRetries: 2, retryDelayMs: 1, restartMs: 5 }), attempt)
  assert.equal(node.attempts!.map((a) => a.after), ['power-on', 'retry', 'retry', 'restart', 'retry', 'retry'])
})

test('a Pi 3 gets one attempt: its ROM does not start again', async () => {
  for (const model of ['3B', '3B+'] as const) {
    const attempt = scripted([timeout])
    const node = await bootNode(pi(model), context(), attempt)
    assert.is(attempt.calls, 1, model)
    assert.equal(node.error, timeout)
    assert.is(node.handoff, undefined)
    assert.is(node.attempts!.length, 1)
  }
})

test("the EEPROM set to stop (a bootloader that hangs) makes a Pi 5 a one-attempt node too", async () => {
  const attempt = scripted([timeout])
  await bootNode(pi('5'), context(undefined, { afterFailure: 'stop' }), attempt)
  assert.is(attempt.calls, 1)
})

test("the storm's end stops the loop: the node failed, its attempts and leases kept", async () => {
  const stop = new AbortController()
  const always = Array.from({ length: 10_000 }, () => timeout)
  const attempt = scripted(always)
  setTimeout(() => stop.abort(), 100)
  const node = await bootNode(pi('4B'), context(stop.signal, { restartMs: 20 }), attempt)
  assert.ok(attempt.calls >= 2 && attempt.calls < 10_000, `${attempt.calls} attempts`)
  assert.equal(node.error, timeout)
  assert.is(node.attempts!.length, attempt.calls)
  assert.is(node.leases.length, 1)
})

test('a failure after the kernel hand-off (the root phase) is no reason for the firmware to start again', async () => {
  const root: NodeError = { phase: 'root', file: 'usr/bin/bash', what: 'size 3 differs' }
  const attempt = scripted([], '10.0.0.9', root)
  // Bounded: a loop that did start again would go on until this signal.
  const node = await bootNode(pi('4B'), context(AbortSignal.timeout(1000)), attempt)
  assert.is(attempt.calls, 1)
  assert.equal(node.error, root)
  assert.is(node.handoff, 7)
})

test('totals: attempts per node, restarted nodes, failed attempts grouped, leases, within the firmware\'s timeouts, duplicates across nodes only', async () => {
  const a = await bootNode(pi('4B', 1), context(), scripted([timeout, timeout], '10.0.0.1'))
  const b = await bootNode(pi('5', 2), context(), scripted([], '10.0.0.2'))
  const c = await bootNode(pi('3B+', 3), context(), scripted([noOffer]))
  const t = totals([a, b, c], [0, 0, 0])
  assert.equal(t.attempts, { p50: 1, p95: 3, max: 3, restarted: 1 })
  assert.equal(t.attemptFailures, { 'tftp: timeout (30 s) (kernel8.img)': 2, 'dhcp: no offer': 1 })
  assert.equal(t.failures, { 'dhcp: no offer': 1 })
  assert.is(t.leases, 2)
  assert.equal(t.withinTimeouts, { nodes: 2, slowest: 2, limit: 30, retriedFiles: 2 })
  assert.is(t.duplicateAddresses, 0, "a node leased its own address again is no duplicate")
  const d = await bootNode(pi('4B', 4), context(), scripted([timeout], '10.0.0.5'))
  const e = await bootNode(pi('4B', 5), context(), scripted([], '10.0.0.5'))
  assert.is(totals([d, e], [0, 0]).duplicateAddresses, 1, 'an address two nodes held, in any of their attempts')
  assert.match(t.bottleneck, /^DHCP|none failed/)
})

test.run()
