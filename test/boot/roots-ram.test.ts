/**
 * The `ram` root (netboot.root), and today's `nfs` root beside it, proven by boot: the bookworm
 * arm64 demo image published with each (a recipe and a node per mode, one site in out/test-roots,
 * see test/boot/roots.ts), both nodes booted at once under QEMU on a test LAN. `ram`: running with
 * no failed unit, its own host keys, `/` pibake's overlay over the image copied into memory, no NFS
 * mount left, writes taken and gone after a reboot. `nfs`: the same writes fail, as they always
 * did. Then the NFS server is stopped, and both nodes are asked to run a program they never ran:
 * the `ram` node runs it, answers SSH and writes; the `nfs` node hangs (its program's pages are on
 * the server, and an NFS root waits for its server forever: documented, not hidden).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { BOOKWORM_ARM64, HANG_S, runRoots, type RootRun } from './roots.ts'
import { checkGoneAfterReboot, checkRunningRoot, checkServerless, checkWritableRoot } from './roots-checks.ts'

let ram: RootRun
let nfs: RootRun
let remove: (() => Promise<void>) | undefined
const started = performance.now()

test.before(async () => {
  try {
    const booted = await runRoots([{ kind: BOOKWORM_ARM64, mode: 'ram', reboot: true }, { kind: BOOKWORM_ARM64, mode: 'nfs' }], { stopServer: true })
    remove = booted.remove
    ;[ram, nfs] = booted.runs as [RootRun, RootRun]
  } catch (error) {
    // uvu counts a failing before hook as failed tests but never prints why: say it here.
    process.stderr.write(`roots ram/nfs boot setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  }
})

test.after(async () => {
  await remove?.()
  process.stderr.write(`# roots-ram test file: ${((performance.now() - started) / 1000).toFixed(0)} s in all\n`)
})

test('ram: the node runs as itself, nothing failed', () => {
  checkRunningRoot(ram)
})

test('ram: / is a tmpfs over the image in memory, no NFS mount is left; writes anywhere, gone after a reboot', () => {
  checkWritableRoot(ram, /^squashfs \/dev\/loop\d+$/)
  assert.is(ram.wrote.get('nfs-mounts'), '', 'nothing is mounted over NFS')
  checkGoneAfterReboot(ram)
})

test('ram: with the NFS server stopped, the node runs a program it never ran, answers SSH and writes', () => {
  checkServerless(ram)
})

test('nfs: the node runs as itself; the same writes fail on the read-only root', () => {
  checkRunningRoot(nfs)
  assert.match(nfs.wrote.get('write') ?? '', /Read-only file system[\s\S]*failed$/)
})

test(`nfs: with the NFS server stopped, the node hangs on a program it never ran: after ${HANG_S} s it has not run it`, () => {
  const hung = nfs.serverless
  assert.ok(hung, 'the nfs node was asked once the NFS server was stopped')
  assert.not.match(hung.get('factor') ?? '', /1234567: 127 9721/, `factor never ran: ${JSON.stringify(Object.fromEntries(hung))}`)
  // How it hangs: the node's kernel takes the SSH connection, but sshd's child never greets (it loads
  // from the root: SSH gives up on the banner, exit 255); or the session starts and hangs (SSH
  // stopped by the time limit on this side, 124); or factor hangs (the node's `timeout 20` ends it,
  // "exit 124"). Never a result, and never a refused or unreachable node: the node is up, its root is not.
  const how = `SSH exit ${hung.get('ssh')}: ${JSON.stringify(hung.get('ssh-error'))}, ${JSON.stringify(hung.get('factor'))}`
  const noBanner = hung.get('ssh') === '255' && /timed out during banner exchange/.test(hung.get('ssh-error') ?? '')
  assert.ok(noBanner || hung.get('ssh') === '124' || hung.get('factor') === 'exit 124', `the program hung (${how})`)
})

test.run()
