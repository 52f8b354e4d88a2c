/**
 * The `overlay` and `squashfs` roots (netboot.root), proven by boot: the bookworm arm64 demo image
 * published with each (a recipe and a node per mode, one site in out/test-roots, see
 * test/boot/roots.ts), both nodes booted at once under QEMU on a test LAN, then rebooted at once.
 * Both: running with no failed unit, its own hostname and host keys, `/` pibake's overlay over the
 * mode's lower layer, writes to /usr/local/bin and /var/lib taken and counted by `df /`, gone after
 * a reboot. `overlay` reads the build's tree over NFS; `squashfs` the build's image through a loop
 * device, with only the image's folder mounted over NFS and a few lookups. The `squashfs` node's
 * first boot records its read set (as `pibake try --record-reads` does), the recipe is built again
 * and its second boot boots the new build, whose image has those files first (src/roots/order.ts):
 * that boot's NFS calls are at most 1/20 of those the `overlay` node made reading the same tree
 * (as many as the `nfs` root makes: test/boot/roots-ram.test.ts boots that one), and well under
 * those of the first boot's image in mksquashfs's order.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { FLEET } from './published.ts'
import { BOOKWORM_ARM64, runRoots, type RootRun } from './roots.ts'
import { checkGoneAfterReboot, checkRunningRoot, checkWritableRoot } from './roots-checks.ts'

let overlay: RootRun
let squashfs: RootRun
let remove: (() => Promise<void>) | undefined
const started = performance.now()

test.before(async () => {
  try {
    const booted = await runRoots([{ kind: BOOKWORM_ARM64, mode: 'overlay', reboot: true }, { kind: BOOKWORM_ARM64, mode: 'squashfs', reboot: true, ordered: true }])
    remove = booted.remove
    ;[overlay, squashfs] = booted.runs as [RootRun, RootRun]
  } catch (error) {
    // uvu counts a failing before hook as failed tests but never prints why: say it here.
    process.stderr.write(`roots overlay/squashfs boot setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  }
})

test.after(async () => {
  await remove?.()
  process.stderr.write(`# roots-overlay test file: ${((performance.now() - started) / 1000).toFixed(0)} s in all\n`)
})

test('overlay: the node runs as itself, nothing failed', () => {
  checkRunningRoot(overlay)
})

test("overlay: / is a tmpfs over the build's tree read over NFS; writes anywhere, counted by df, gone after a reboot", () => {
  checkWritableRoot(overlay, new RegExp(`^nfs ${FLEET.nfsServer}:${overlay.published.root}$`))
  checkGoneAfterReboot(overlay)
})

test('squashfs: the node runs as itself, nothing failed', () => {
  checkRunningRoot(squashfs)
})

test("squashfs: / is a tmpfs over the build's image through a loop device; writes anywhere, gone after a reboot", () => {
  checkWritableRoot(squashfs, /^squashfs \/dev\/loop\d+$/)
  checkGoneAfterReboot(squashfs)
})

test('squashfs: the only NFS mount is the folder of the image, not the tree; a few lookups, not thousands', () => {
  assert.is(squashfs.wrote.get('nfs-mounts'), `${FLEET.nfsServer}:${squashfs.published.recipeDir}/builds /run/pibake/nfs`)
  assert.ok((squashfs.nfsCalls.lookup ?? 0) < 100, `few lookups: ${JSON.stringify(squashfs.nfsCalls)}`)
  assert.ok(overlay.nfsCalls.total! > 1000, `the overlay node read its tree over NFS in thousands of calls: ${JSON.stringify(overlay.nfsCalls)}`)
})

test('squashfs: with the boot\'s files first in the image, at most 1/20 of the NFS calls of a boot from the tree, and far fewer than in mksquashfs\'s order', () => {
  const tree = overlay.nfsCalls.total ?? Number.NaN
  const [plain, ordered] = [squashfs.nfsCalls.total ?? Number.NaN, squashfs.againCalls?.total ?? Number.NaN]
  process.stderr.write(`# squashfs NFS calls: ${plain} in mksquashfs's order (1/${(tree / plain).toFixed(1)}), ${ordered} with the ${squashfs.readSetFiles} files of the read set first (1/${(tree / ordered).toFixed(1)}); the overlay node's tree ${tree}\n`)
  assert.ok((squashfs.readSetFiles ?? 0) > 100, `the first boot's read set lists the files a boot reads: ${squashfs.readSetFiles}`)
  const image = (cmdline: string | undefined) => / pibake\.image=\S+\/builds\/(\S+)\.squashfs /.exec(` ${cmdline} `)?.[1]
  assert.ok(image(squashfs.second?.cmdline) && image(squashfs.second?.cmdline) !== image(squashfs.first.cmdline), `the second boot is of the build made again, with its own image: ${squashfs.second?.cmdline}`)
  assert.ok(squashfs.second?.facts.cmdline.includes(' pibake.rebuilt=1 '), 'and the kernel ran with its command line')
  assert.ok(ordered * 20 <= tree, `the issue's figure: ${ordered} calls × 20 ≤ the tree's ${tree}`)
  // On an idle machine the first image took 325–329 calls (1/18.4–1/18.7 of the tree's): the read order must show, whatever the load.
  assert.ok(ordered <= plain * 0.6, `read order: ${ordered} calls, against ${plain} in mksquashfs's order`)
})

test.run()
