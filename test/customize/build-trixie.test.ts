/**
 * `pibake build` of a customised recipe on the trixie demo images, arm64 and armhf, under real
 * qemu-user with the images' own dpkg: the steps trixie changes (apt from deb822 sources, users
 * with shadow 4.17, a unit enabled) land in the published root, and so does what the netboot stage
 * does to a trixie image: cloud-init disabled and its seed not among the node's boot files,
 * NetworkManager told to leave the node's boot interface alone, zram swap kept and no swap file.
 * The root differs from the image's by exactly that; building again re-runs nothing.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { diffSnapshots, takeSnapshot } from '../../src/snapshot/index.ts'
import { snapshotDemoRoot } from './demo-root.ts'
import { HASH, KEY, OUT, leftBehind, projectsOf, recipeProject, statuses, strayChanges, type RecipeProject } from './project.ts'

/**
 * The recipe first narrows the image's deb822 sources to trixie itself (a recipe's own edit, as an
 * administrator pins a fleet's archive): the mirror this suite runs against serves trixie-updates'
 * and trixie-security's armhf indexes out of step with their InRelease ("File has unexpected size
 * … Mirror sync in progress?"), and apt-get update rightly fails on that. The image's sources as
 * they ship are used by customize/trixie.test.ts (arm64).
 */
const STEPS = `    { kind: 'run', command: "sed -i -e '/^$/,$d' -e 's/^Suites: .*/Suites: trixie/' /etc/apt/sources.list.d/debian.sources" },
    { kind: 'packages', install: ['tree'] },
    {
      kind: 'users',
      users: [{ name: 'alice', uid: 2001, gid: 2001, password: '${HASH}', groups: ['sudo'], sshKeys: ['${KEY}'] }],
    },
    { kind: 'copy', from: 'files/hello.service', to: '/etc/systemd/system/hello.service' },
    { kind: 'enable', units: ['hello'] },
    { kind: 'run', command: 'echo "$(id -un) on $(uname -m)" > /etc/pibake-run' },`

/** What the README promises, written here rather than taken from the code under test. */
const CLOUD_INIT_DISABLED = 'etc/cloud/cloud-init.disabled'
/** The NoCloud seed Raspberry Pi OS puts on its boot partition. */
const SEED_FILES = ['user-data', 'meta-data', 'network-config']
const NETWORKMANAGER_CONF = 'etc/NetworkManager/conf.d/pibake-nfsroot.conf'

const projects = projectsOf(test)

for (const arch of ['arm64', 'armhf'] as const) {
  let project: RecipeProject
  const name = `customize-trixie-${arch}`
  const mac = arch === 'arm64' ? 'dc:a6:32:00:00:21' : 'dc:a6:32:00:00:22'
  const published = (path = '') => join(OUT, `publish/nfs/${name}/current`, path)
  const bootFiles = () => join(OUT, 'publish/tftp', mac.replaceAll(':', '-'))

  test(`trixie ${arch}: the first build runs every stage and every step`, async () => {
    project = await recipeProject(name, arch, STEPS, { mac, release: 'trixie' })
    projects.push(project)
    const events = await project.build()
    assert.equal(statuses(events), { image: 'run', extract: 'run', overlay: 'skipped', customize: 'run', netboot: 'run', publish: 'run' })
    const steps = events.flatMap((e) => (e.type === 'step' && e.stage === 'customize' ? [e.step] : []))
    assert.is(steps.length, 6)
    assert.ok(events.some((e) => e.type === 'log' && e.stage === 'customize' && /Setting up tree/.test(e.line)), 'apt output is streamed as log lines')
    const timings = events.find((e) => e.type === 'info' && e.stage === 'customize' && e.message.startsWith(`${arch} steps took`))
    console.log(`  ${timings?.type === 'info' ? timings.message : ''}`)
    assert.equal(await leftBehind(OUT), [])
    assert.equal(await leftBehind(project.dir), [])
  })

  test(`trixie ${arch}: the package, the user, the unit link and the command's result are in the published root`, async () => {
    assert.match(await readFile(published('usr/lib/os-release'), 'utf8'), /^VERSION_CODENAME=trixie$/m)
    assert.match(await readFile(published('etc/apt/sources.list.d/debian.sources'), 'utf8'), /^Types: deb\nURIs: \S+\nSuites: trixie\nComponents: main[^\n]*\nSigned-By: \S+\n$/)
    assert.ok((await stat(published('usr/bin/tree'))).isFile())
    assert.match(await readFile(published('etc/passwd'), 'utf8'), /^alice:x:2001:2001::\/home\/alice:\/bin\/bash$/m)
    assert.match(await readFile(published('etc/group'), 'utf8'), /^sudo:x:27:(.*,)?alice$/m)
    assert.match(await readFile(published('etc/shadow'), 'utf8'), new RegExp(`^alice:${HASH.replaceAll('$', '\\$').replaceAll('.', '\\.')}:`, 'm'))
    const shadow = await stat(published('etc/shadow'))
    const shadowGid = Number(/^shadow:x:(\d+):/m.exec(await readFile(published('etc/group'), 'utf8'))?.[1])
    assert.equal([shadow.mode & 0o7777, shadow.uid, shadow.gid], [0o640, 0, shadowGid], '/etc/shadow stays root:shadow 0640')
    assert.is(await readFile(published('home/alice/.ssh/authorized_keys'), 'utf8'), `${KEY}\n`)
    assert.is(await readlink(published('etc/systemd/system/multi-user.target.wants/hello.service')), '/etc/systemd/system/hello.service')
    assert.is(await readFile(published('etc/pibake-run'), 'utf8'), `root on ${arch === 'arm64' ? 'aarch64' : 'armv7l'}\n`)
  })

  test(`trixie ${arch}: cloud-init is disabled and its seed is not served; NetworkManager leaves the node's boot interface alone; zram, no swap file`, async () => {
    assert.ok((await stat(published(CLOUD_INIT_DISABLED))).isFile(), 'cloud-init is disabled')
    const files = await readdir(bootFiles())
    assert.ok(files.includes('cmdline.txt') && files.includes('config.txt'), `the node has its boot files: ${files.join(' ')}`)
    assert.equal(files.filter((f) => SEED_FILES.includes(f)), [], 'no NoCloud seed among them')
    assert.match(await readFile(join(bootFiles(), 'cmdline.txt'), 'utf8'), new RegExp(`nfsroot=10\\.99\\.0\\.2:\\S*/${name}/builds/`))
    const nm = await readFile(published(NETWORKMANAGER_CONF), 'utf8')
    assert.match(nm, new RegExp(`^unmanaged-devices\\+?=.*mac:${mac}`, 'm'), `the node's MAC is unmanaged:\n${nm}`)
    assert.ok((await stat(published('usr/lib/netplan/00-network-manager-all.yaml'))).isFile(), "netplan's hand-everything file stays: unmanaged wins")
    assert.match(await readFile(published('etc/systemd/zram-generator.conf'), 'utf8'), /^\[zram0\]$/m, 'zram swap stays (it is RAM)')
    assert.not.match(await readFile(published('etc/fstab'), 'utf8'), /\bswap\b/, 'no swap in fstab')
    assert.is(await lstat(published('var/swap')).catch(() => undefined), undefined, 'no swap file')
  })

  test(`trixie ${arch}: the root differs from the image's by the steps and the netboot stage only, with no trace of the chroot machinery`, async () => {
    const diff = diffSnapshots(await snapshotDemoRoot(arch, 'trixie'), await takeSnapshot(published()))
    const { machinery, elsewhere } = strayChanges(diff, '/home/alice')
    assert.equal(machinery, [])
    assert.equal(elsewhere, [], 'nothing else changed')
  })

  test(`trixie ${arch}: building again re-runs nothing before publish`, async () => {
    const events = await project.build()
    assert.equal(statuses(events), { image: 'cached', extract: 'cached', overlay: 'skipped', customize: 'cached', netboot: 'cached', publish: 'run' })
    assert.equal(await leftBehind(OUT), [])
  })
}

test.run()
