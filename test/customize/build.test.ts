/**
 * `pibake build` of a customised recipe on the arm64 and armhf demo images, under real qemu-user
 * with the images' real apt and dpkg: the published root differs from the image's exactly by what
 * the steps did, with no trace of the chroot machinery, and building again re-runs nothing.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import { diffSnapshots, takeSnapshot, type Change, type Diff, type Entry } from '../../src/snapshot/index.ts'
import { snapshotDemoRoot } from './demo-root.ts'
import { HASH, KEY, OUT, leftBehind, projectsOf, recipeProject, statuses, strayChanges, type RecipeProject } from './project.ts'

const STEPS = `    { kind: 'packages', install: ['nfs-common', 'openssh-server', 'less', 'tree'], upgrade: true },
    { kind: 'remove', packages: ['dphys-swapfile'] },
    { kind: 'groups', groups: [{ name: 'cluster', gid: 2000 }] },
    {
      kind: 'users',
      users: [{ name: 'alice', uid: 2001, gid: 2001, password: '${HASH}', groups: ['cluster', 'sudo'], sshKeys: ['${KEY}'] }],
    },
    { kind: 'copy', from: 'files/hello.service', to: '/etc/systemd/system/hello.service' },
    { kind: 'enable', units: ['hello'] },
    { kind: 'script', path: 'files/setup.sh', args: ['node', 'two'] },
    { kind: 'write', path: '/etc/cluster-role', content: 'worker\\n', mode: '0640', owner: 'alice:cluster' },
    { kind: 'write', path: '/boot/firmware/pibake.txt', content: 'on the boot partition\\n' },
    { kind: 'run', command: 'echo dtparam=pibake=on >> /boot/firmware/config.txt && echo include pibake.txt >> /boot/firmware/config.txt && echo no firmware asks for this > /boot/firmware/notes.txt' },
    { kind: 'run', command: 'echo "$(id -un) on $(uname -m)" > /etc/pibake-run' },`

const projects = projectsOf(test)

for (const arch of ['arm64', 'armhf'] as const) {
  let project: RecipeProject
  let diff: Diff
  let first: BuildEvent[]
  const published = () => join(OUT, `publish/nfs/customize-${arch}/current/`)
  const mac = arch === 'arm64' ? 'dc:a6:32:00:00:01' : 'dc:a6:32:00:00:02'

  test(`${arch}: the first build runs every stage, each step a sub-task naming its recipe line`, async () => {
    project = await recipeProject(`customize-${arch}`, arch, STEPS, { mac })
    projects.push(project)
    first = await project.build()
    assert.equal(statuses(first), { image: 'run', extract: 'run', overlay: 'skipped', customize: 'run', netboot: 'run', publish: 'run' })
    const steps = first.flatMap((e) => (e.type === 'step' && e.stage === 'customize' ? [e.step] : []))
    assert.is(steps.length, 11)
    assert.is(steps[0], `packages (upgrade) nfs-common openssh-server less tree (${project.file}:${project.lineOf("kind: 'packages'")})`)
    assert.is(steps[3], `users alice (${project.file}:${project.lineOf("kind: 'users'")})`)
    assert.is(steps[10], `run "echo \\"$(id -un) on $(uname -m)\\" > /etc/pibake-run" (${project.file}:${project.lineOf('pibake-run')})`)
    assert.ok(first.some((e) => e.type === 'log' && e.stage === 'customize' && /Setting up tree/.test(e.line)), 'apt output is streamed as log lines')
    const timings = first.find((e) => e.type === 'info' && e.stage === 'customize' && e.message.startsWith(`${arch} steps took`))
    assert.ok(timings, 'the stage reports how long each step took')
    console.log(`  ${timings?.type === 'info' ? timings.message : ''}`)
    assert.equal(await leftBehind(OUT), [])
    assert.equal(await leftBehind(project.dir), [])
  })

  test(`${arch}: no secret (the user's password hash, a node's private host key) is in the events, the logs or the site's records`, async () => {
    const host = (await readdir(join(OUT, `state/customize-${arch}/nodes`)))[0]
    assert.ok(host, 'a node has its keys')
    const keysDir = join(OUT, `state/customize-${arch}/nodes`, host)
    const privateKeys = await Promise.all((await readdir(keysDir)).filter((n) => n.endsWith('_key')).map((n) => readFile(join(keysDir, n), 'utf8')))
    assert.ok(privateKeys.length > 0)
    // A private key's body, without its armour lines, and the hash's salted part.
    const secrets = [HASH, HASH.split('$').pop()!, ...privateKeys.map((k) => k.split('\n').slice(1, -2).join(''))]
    const logs = await Promise.all((await readdir(join(OUT, 'logs'))).map((n) => readFile(join(OUT, 'logs', n), 'utf8')))
    const records = await Promise.all((await readdir(join(OUT, 'publish/pibake'))).map((n) => readFile(join(OUT, 'publish/pibake', n), 'utf8')))
    const places = { events: JSON.stringify(first), logs: logs.join('\n'), records: records.join('\n') }
    for (const [where, text] of Object.entries(places)) {
      assert.ok(text.length > 100, `${where} were read`)
      for (const secret of secrets) assert.not.ok(text.replaceAll('\n', '').includes(secret), `a secret is in the ${where}`)
    }
  })

  test(`${arch}: the packages, the user, the unit link, the script's and the files' results are in the published root`, async () => {
    const base = await snapshotDemoRoot(arch)
    diff = diffSnapshots(base, await takeSnapshot(published()))
    const added = byPath(diff.added)
    for (const path of ['/usr/bin/tree', '/usr/bin/less', '/usr/share/doc/tree/copyright', '/var/lib/dpkg/info/tree.list']) assert.ok(added[path], `${path} added`)
    assertEntry(added['/home/alice'], { type: 'dir', uid: 2001, gid: 2001 })
    assertEntry(added['/home/alice/.ssh'], { type: 'dir', mode: 0o700, uid: 2001, gid: 2001 })
    assertEntry(added['/home/alice/.ssh/authorized_keys'], { type: 'file', mode: 0o600, uid: 2001, gid: 2001 })
    assert.is(await readFile(join(published(), 'home/alice/.ssh/authorized_keys'), 'utf8'), `${KEY}\n`)
    assertEntry(added['/etc/systemd/system/multi-user.target.wants/hello.service'], { type: 'symlink', target: '/etc/systemd/system/hello.service' })
    assertEntry(added['/etc/systemd/system/hello.service'], { type: 'file', mode: 0o644, uid: 0, gid: 0 })
    assertEntry(added['/etc/cluster-role'], { type: 'file', mode: 0o640, uid: 2001, gid: 2000 })
    assert.is(await readFile(join(published(), 'etc/pibake-script'), 'utf8'), 'script ran as 0 with 2 argument(s): node two\n')
    const removed = diff.removed.map((c) => c.path)
    for (const path of ['/usr/sbin/dphys-swapfile', '/etc/dphys-swapfile', '/var/lib/dpkg/info/dphys-swapfile.list']) assert.ok(removed.includes(path), `${path} purged`)
    const machine = arch === 'arm64' ? 'aarch64' : 'armv7l'
    const boot = join(OUT, 'publish/tftp', mac.replaceAll(':', '-'))
    assert.is(await readFile(join(boot, 'pibake.txt'), 'utf8'), 'on the boot partition\n', 'a write below /boot/firmware goes to the boot partition (config.txt includes it)')
    assert.match(await readFile(join(boot, 'config.txt'), 'utf8'), /^dtparam=pibake=on$/m, 'so does a command writing there')
    // The TFTP tree holds only what a firmware fetches: a file config.txt includes stays, another goes.
    assert.ok(!(await readdir(boot)).includes('notes.txt'), 'a boot file no firmware fetches is left out of the TFTP tree')
    assert.equal(diff.added.filter((c) => c.path.startsWith('/boot/')).map((c) => c.path), [], 'and nothing of it lands in the root')
    assert.is(await readFile(join(published(), 'etc/pibake-run'), 'utf8'), `root on ${machine}\n`)
  })

  test(`${arch}: passwd, shadow and group hold the user with its ids, hash and groups; /etc/shadow stays root:shadow 0640`, async () => {
    const changed = byPath(diff.changed)
    const file = (name: string) => readFile(join(published(), 'etc', name), 'utf8')
    assert.match(await file('passwd'), /^alice:x:2001:2001::\/home\/alice:\/bin\/bash$/m)
    assert.match(await file('shadow'), new RegExp(`^alice:${HASH.replaceAll('$', '\\$').replaceAll('.', '\\.')}:`, 'm'))
    assert.match(await file('group'), /^cluster:x:2000:alice$/m)
    assert.match(await file('group'), /^alice:x:2001:$/m)
    assert.match(await file('group'), /^sudo:x:27:(.*,)?alice$/m)
    const shadowGid = Number(/^shadow:x:(\d+):/m.exec(await file('group'))?.[1])
    for (const name of ['passwd', 'shadow', 'group', 'gshadow']) {
      const change = changed[`/etc/${name}`]
      assert.ok(change, `/etc/${name} changed`)
      assert.equal(change?.fields?.map((f) => f.field).sort(), ['sha256', 'size'], `/etc/${name}: only its contents changed`)
    }
    assertEntry(changed['/etc/shadow']?.after, { mode: 0o640, uid: 0, gid: shadowGid })
  })

  test(`${arch}: no trace of the chroot machinery: no policy-rc.d, resolv.conf and ld.so.preload as in the image, no qemu, no apt lists or archives`, async () => {
    const { machinery, elsewhere } = strayChanges(diff, '/home/alice')
    assert.equal(machinery, [])
    const capabilities = diff.added.filter((c) => c.after?.xattrs?.['security.capability']).map((c) => c.path)
    assert.equal(capabilities, [], 'no file capabilities were set')
    assert.equal(elsewhere, [], 'nothing else changed')
  })

  test(`${arch}: building again re-runs nothing before publish`, async () => {
    const events = await project.build()
    assert.equal(statuses(events), { image: 'cached', extract: 'cached', overlay: 'skipped', customize: 'cached', netboot: 'cached', publish: 'run' })
    assert.equal(await leftBehind(OUT), [])
  })
}

function byPath(changes: readonly Change[]): Record<string, Change & { after?: Entry }> {
  return Object.fromEntries(changes.map((c) => [c.path, c]))
}

function assertEntry(change: Change | Entry | undefined, expected: Partial<Entry>): void {
  const entry = change && 'kind' in change ? change.after : change
  assert.ok(entry, `entry exists (expected ${JSON.stringify(expected)})`)
  for (const [key, value] of Object.entries(expected)) assert.equal(entry?.[key as keyof Entry], value, `${entry?.path} ${key}`)
}

test.run()
