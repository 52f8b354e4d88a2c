/**
 * The `overlay` and `squashfs` roots (netboot.root), proven by boot: the bookworm arm64 demo image
 * published with each, one node booted twice under QEMU on a test LAN (test/boot/roots.ts). Both:
 * running with no failed unit, its own hostname and host keys, `/` pibake's overlay over the
 * mode's lower layer, writes to /usr/local/bin and /var/lib taken and counted by `df /`, gone after
 * a reboot. `overlay` reads the build's tree over NFS; `squashfs` the build's image through a loop
 * device, with only the image's folder mounted over NFS. One suite per mode, each reported as soon
 * as its boots are done.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { FLEET } from './published.ts'
import { runRoot, type RootRun } from './roots.ts'
import { checkRunningRoot, checkWritableRoot } from './roots-checks.ts'

function bootSuite(mode: 'overlay' | 'squashfs') {
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

const overlay = bootSuite('overlay')

overlay('the node runs as itself, nothing failed', ({ run }) => {
  checkRunningRoot(run!)
})

overlay("/ is a tmpfs over the build's tree read over NFS; writes anywhere, counted by df, gone after a reboot", ({ run }) => {
  checkWritableRoot(run!, new RegExp(`^nfs ${FLEET.nfsServer}:${run!.published.root}$`))
})

overlay.run()

const squashfs = bootSuite('squashfs')

squashfs('the node runs as itself, nothing failed', ({ run }) => {
  checkRunningRoot(run!)
})

squashfs("/ is a tmpfs over the build's image through a loop device; writes anywhere, gone after a reboot", ({ run }) => {
  checkWritableRoot(run!, /^squashfs \/dev\/loop\d+$/)
})

squashfs('the only NFS mount is the folder of the image, not the tree; a few hundred NFS calls, not thousands', ({ run }) => {
  assert.is(run!.wrote.get('nfs-mounts'), `${FLEET.nfsServer}:${run!.published.recipeDir}/builds /run/pibake/nfs`)
  assert.ok((run!.nfsCalls.lookup ?? 0) < 100, `few lookups: ${JSON.stringify(run!.nfsCalls)}`)
})

squashfs.run()
