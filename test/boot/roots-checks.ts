/** What every booted root mode must show (test/boot/roots-*.test.ts), asserted on a RootRun. */
import * as assert from 'uvu/assert'
import { checkHostKeys, publishedHostKeys, CONSOLE_ARG } from './site.ts'
import type { RootRun } from './roots.ts'

/** The node runs as itself, from the command line it was published with (when it booted), nothing failed. */
export function checkRunningRoot(run: RootRun): void {
  const { first, published, node } = run
  assert.is(first.facts.cmdline, `${first.cmdline} ${CONSOLE_ARG}`, 'the kernel ran with the published cmdline.txt')
  assert.is(first.state, 'running', 'systemctl is-system-running')
  assert.is(first.facts.failed, '', `no failed units:\n${first.facts.failed}`)
  assert.is(first.facts.hostname, node.hostname, 'its own hostname')
  checkHostKeys(first.hostKeys, publishedHostKeys(published, node), node.hostname)
}

/** `/` is the overlay with the mode's lower layer, every path takes writes, and `df /` counts them. */
export function checkWritableRoot(run: RootRun, lower: RegExp): void {
  const { wrote, mode } = run
  assert.match(run.first.cmdline, new RegExp(`(^| )pibake\\.root=${mode}( |$)`), 'the command line names the mode')
  assert.match(wrote.get('root') ?? '', /^overlay pibake-root$/, `/ is pibake's overlay: ${wrote.get('root')}`)
  assert.match(wrote.get('lower') ?? '', lower, `the lower layer: ${wrote.get('lower')}`)
  assert.is(wrote.get('write'), 'pibake\npibake', '/usr/local/bin/x and /var/lib/x were written')
  const grown = Number(wrote.get('df-after')) - Number(wrote.get('df-before'))
  assert.ok(grown >= 16 * 1024 * 1024, `df / counts a 16 MiB write in the upper layer's RAM (grew by ${grown} bytes)`)
}

/** After a reboot the node runs again, and the first boot's writes are gone. */
export function checkGoneAfterReboot(run: RootRun): void {
  assert.is(run.again?.get('gone'), '/usr/local/bin/x absent\n/var/lib/x absent\n/var/lib/pibake-big absent', 'after a reboot the writes are gone')
  assert.is(run.second?.state, 'running', 'the second boot runs too')
}

/** With the NFS server stopped, a `ram` node runs a program it never ran, answers SSH and writes, and mounts nothing over NFS. */
export function checkServerless(run: RootRun): void {
  const serverless = run.serverless
  assert.ok(serverless, 'the node was asked once the NFS server was stopped')
  assert.is(serverless.get('factor'), '1234567: 127 9721')
  assert.is(serverless.get('write'), 'after')
  assert.is(serverless.get('nfs-mounts'), '', 'and mounts nothing over NFS')
}
