/**
 * The `ram` and `overlay` roots (netboot.root) on the other images the issue names, proven by boot:
 * the trixie arm64 and the bookworm armhf demo images (armhf under qemu-system-arm), each published
 * with each mode (a recipe and a node per image and mode, one site in out/test-roots, see
 * test/boot/roots.ts; the initramfs is rebuilt once per image and shared by its two recipes). Per
 * image, both nodes boot at once: running with no failed unit, its own hostname and host keys, `/`
 * pibake's overlay over the mode's lower layer, writes to /usr/local/bin and /var/lib taken and
 * counted by `df /`. Then the NFS server is stopped, and the `ram` node runs a program it never ran,
 * answers SSH and writes.
 *
 * No reboot here: that the writes are gone after one is the tmpfs upper layer's doing, the same
 * boot script on every image, and test/boot/roots-overlay.test.ts and roots-ram.test.ts prove it
 * on bookworm arm64 (a boot saved per node).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { FLEET } from './published.ts'
import { BOOKWORM_ARMHF, TRIXIE_ARM64, runRoots, type DemoKind, type RootRun } from './roots.ts'
import { checkRunningRoot, checkServerless, checkWritableRoot } from './roots-checks.ts'

const started = performance.now()

function imageSuite(kind: DemoKind) {
  const it = suite<{ ram?: RootRun; overlay?: RootRun; remove?: () => Promise<void> }>(`${kind.release} ${kind.arch}`, {})
  it.before(async (context) => {
    try {
      const booted = await runRoots([{ kind, mode: 'ram' }, { kind, mode: 'overlay' }], { stopServer: true })
      context.remove = booted.remove
      ;[context.ram, context.overlay] = booted.runs
    } catch (error) {
      // uvu counts a failing before hook as failed tests but never prints why: say it here.
      process.stderr.write(`roots ${kind.release} ${kind.arch} boot setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      throw error
    }
  })
  it.after(async (context) => {
    await context.remove?.()
    process.stderr.write(`# roots-more: ${kind.release} ${kind.arch} done ${((performance.now() - started) / 1000).toFixed(0)} s after the file started\n`)
  })

  it('ram: the node runs as itself, nothing failed', ({ ram }) => {
    checkRunningRoot(ram!)
  })

  it('ram: / is a tmpfs over the image in memory, no NFS mount is left; writes anywhere', ({ ram }) => {
    checkWritableRoot(ram!, /^squashfs \/dev\/loop\d+$/)
    assert.is(ram!.wrote.get('nfs-mounts'), '', 'nothing is mounted over NFS')
  })

  it('ram: with the NFS server stopped, the node runs a program it never ran, answers SSH and writes', ({ ram }) => {
    checkServerless(ram!)
  })

  it('overlay: the node runs as itself, nothing failed', ({ overlay }) => {
    checkRunningRoot(overlay!)
  })

  it("overlay: / is a tmpfs over the build's tree read over NFS; writes anywhere", ({ overlay }) => {
    checkWritableRoot(overlay!, new RegExp(`^nfs ${FLEET.nfsServer}:${overlay!.published.root}$`))
  })
  return it
}

imageSuite(TRIXIE_ARM64).run()
imageSuite(BOOKWORM_ARMHF).run()
