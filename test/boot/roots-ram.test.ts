/**
 * The `ram` root (netboot.root), and today's `nfs` root beside it for the NFS calls, proven by boot:
 * the bookworm arm64 demo image published with each, a node booted under QEMU on a test LAN
 * (test/boot/roots.ts). `ram`: running with no failed unit, its own host keys, `/` pibake's overlay
 * over the image copied into memory, no NFS mount left, writes taken and gone after a reboot; then
 * the NFS server is stopped, and the node still runs a program it never ran, answers SSH and
 * writes. `nfs`: the same writes fail, as they always did. One suite per mode, each reported as
 * soon as its boots are done.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runRoot, type RootRun } from './roots.ts'
import { checkRunningRoot, checkWritableRoot } from './roots-checks.ts'

function bootSuite(mode: 'ram' | 'nfs') {
  const it = suite<{ run?: RootRun }>(mode, {})
  it.before(async (context) => {
    try {
      context.run = await runRoot(mode)
    } catch (error) {
      process.stderr.write(`roots ${mode} boot setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      throw error
    }
  })
  it.after(async (context) => {
    await context.run?.remove()
  })
  return it
}

const ram = bootSuite('ram')

ram('the node runs as itself, nothing failed', ({ run }) => {
  checkRunningRoot(run!)
})

ram('/ is a tmpfs over the image in memory, no NFS mount is left; writes anywhere, gone after a reboot', ({ run }) => {
  checkWritableRoot(run!, /^squashfs \/dev\/loop\d+$/)
  assert.is(run!.wrote.get('nfs-mounts'), '', 'nothing is mounted over NFS')
})

ram('with the NFS server stopped, the node runs a program it never ran, answers SSH and writes', ({ run }) => {
  const serverless = run!.serverless!
  assert.is(serverless.get('factor'), '1234567: 127 9721')
  assert.is(serverless.get('write'), 'after')
  assert.is(serverless.get('nfs-mounts'), '', 'and mounts nothing over NFS')
})

ram.run()

const nfs = bootSuite('nfs')

nfs('the node runs as itself; the same writes fail on the read-only root', ({ run }) => {
  checkRunningRoot(run!)
  assert.match(run!.wrote.get('write') ?? '', /Read-only file system[\s\S]*failed$/)
})

nfs.run()
