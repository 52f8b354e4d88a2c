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
import { HASH, KEY, OUT, leftBehind, packageFiles, projectsOf, recipeProject, statuses, strayChanges, unexpectedChanges, type RecipeProject } from './project.ts'

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

const HOME = '/home/alice'

/** The packages the recipe installs: their files are what their dpkg lists say. */
const PACKAGES = ['tree']

/**
 * Every other path the build may change, each for a reason: the steps' own files, what dpkg and apt
 * record of an install, what useradd writes, and what the netboot stage does to a trixie image.
 * `home` is alice's home, added whole (its files come from the image's /etc/skel plus her key).
 */
const EXPECTED_CHANGES = [
  // run: sed narrows the sources; the last step's output
  '/etc/apt/sources.list.d/debian.sources',
  '/etc/pibake-run',
  // packages: dpkg's and apt's records of the install
  '/var/lib/dpkg/status',
  '/var/lib/dpkg/status-old',
  '/var/lib/apt/extended_states',
  '/var/log/apt/history.log',
  '/var/log/apt/term.log',
  '/var/log/apt/eipp.log.xz',
  '/var/log/dpkg.log',
  // debconf's scratch folder, made by apt-extracttemplates when the packages are configured
  '/var/cache/debconf/tmp.ci',
  // users: useradd, usermod and chpasswd, each file with the backup shadow's tools keep beside it
  '/etc/passwd',
  '/etc/passwd-',
  '/etc/group',
  '/etc/group-',
  '/etc/shadow',
  '/etc/shadow-',
  '/etc/gshadow',
  '/etc/gshadow-',
  '/etc/subuid',
  '/etc/subuid-',
  '/etc/subgid',
  '/etc/subgid-',
  // copy and enable
  '/etc/systemd/system/hello.service',
  '/etc/systemd/system/multi-user.target.wants/hello.service',
  // netboot: fstab without the SD card, an empty machine-id and hostname, the fleet's hosts
  '/etc/fstab',
  '/etc/machine-id',
  '/etc/hostname',
  '/etc/hosts',
  // netboot: Raspberry Pi OS's first-boot units (key regeneration, the user wizard) taken out
  '/etc/systemd/system/regenerate_ssh_host_keys.service',
  '/etc/systemd/system/multi-user.target.wants/regenerate_ssh_host_keys.service',
  '/etc/systemd/system/userconfig.service',
  '/etc/systemd/system/multi-user.target.wants/userconfig.service',
  // netboot: dhcpcd keeps its address when the link blinks (nolink)
  '/etc/dhcpcd.conf',
  // netboot: cloud-init off, NetworkManager off the boot interface
  '/etc/cloud/cloud-init.disabled',
  '/etc/NetworkManager/conf.d/pibake-nfsroot.conf',
  // netboot: each node's own host keys, fetched at boot; the image's keys removed
  '/usr/lib/pibake',
  '/usr/lib/pibake/identity',
  '/etc/systemd/system/pibake-identity.service',
  '/etc/systemd/system/multi-user.target.wants/pibake-identity.service',
  '/etc/ssh/sshd_config.d/pibake-identity.conf',
  '/etc/ssh/ssh_host_ecdsa_key',
  '/etc/ssh/ssh_host_ecdsa_key.pub',
  '/etc/ssh/ssh_host_ed25519_key',
  '/etc/ssh/ssh_host_ed25519_key.pub',
  '/etc/ssh/ssh_host_rsa_key',
  '/etc/ssh/ssh_host_rsa_key.pub',
  // netboot: on the read-only root, the timers whose jobs would change it masked
  ...['apt-daily', 'apt-daily-upgrade', 'dpkg-db-backup'].flatMap((t) => [`/etc/systemd/system/${t}.timer`, `/etc/systemd/system/timers.target.wants/${t}.timer`]),
  // netboot: the tmpfs mount points the image lacks
  '/var/lib/dhcp',
  '/var/lib/dhcpcd',
  '/var/lib/logrotate',
]

/**
 * The tests of a customised build on each given arch's trixie demo image. The caller runs them
 * (test.run()): build-trixie.test.ts (arm64, the suite) and build-trixie-armhf.test.ts (the wide tier).
 */
export function testTrixieBuilds(arches: readonly ('arm64' | 'armhf')[]): void {
  const projects = projectsOf(test)
  for (const arch of arches) testTrixieBuild(arch, projects)
}

function testTrixieBuild(arch: 'arm64' | 'armhf', projects: RecipeProject[]): void {
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
    assert.equal(strayChanges(diff, HOME).machinery, [])
    const lists = diff.added.filter((c) => /^\/var\/lib\/dpkg\/info\/[^/]+\.list$/.test(c.path)).map((c) => c.path)
    assert.equal(lists, PACKAGES.map((name) => `/var/lib/dpkg/info/${name}.list`), 'dpkg installed the recipe\'s packages and nothing else')
    const packages = (await Promise.all(PACKAGES.map((name) => packageFiles(published(), name)))).flat()
    const info = PACKAGES.flatMap((name) => ['list', 'md5sums'].map((kind) => `/var/lib/dpkg/info/${name}.${kind}`))
    const home = diff.added.filter((c) => c.path === HOME || c.path.startsWith(`${HOME}/`)).map((c) => c.path)
    const skel = (await readdir(published('etc/skel'))).map((name) => `${HOME}/${name}`)
    assert.equal(home.sort(), [HOME, ...skel, `${HOME}/.ssh`, `${HOME}/.ssh/authorized_keys`].sort(), "alice's home: the image's /etc/skel and her key")
    assert.equal(unexpectedChanges(diff, [...EXPECTED_CHANGES, ...packages, ...info, ...home]), [], 'nothing else changed')
  })

  test(`trixie ${arch}: building again re-runs nothing before publish`, async () => {
    const events = await project.build()
    assert.equal(statuses(events), { image: 'cached', extract: 'cached', overlay: 'skipped', customize: 'cached', netboot: 'cached', publish: 'run' })
    assert.equal(await leftBehind(OUT), [])
  })
}
