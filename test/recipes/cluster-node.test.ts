/**
 * The demo, end to end, as a person runs it: `pibake build recipes/cluster-node.ts` on the demo
 * image, twice, then `pibake diff` between the image's root and the published root.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { readFile, readlink, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { buildDemoImage } from '../../src/demo/build.ts'
import { leftovers } from '../helpers/leftovers.ts'

const repo = join(import.meta.dirname, '../..')
const out = join(repo, 'out/test-cluster-node')
/** The demo image recipes/cluster-node.ts builds on. */
const image = join(repo, 'out/demo/raspios-demo-arm64.img')

function pibake(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repo, 'bin/pibake.js'), ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const planOf = (stdout: string) => {
  const plan = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; stages?: { name: string; status: string }[] }).find((e) => e.type === 'plan')
  return Object.fromEntries(plan?.stages?.map((s) => [s.name, s.status]) ?? [])
}

test.before(async () => {
  await buildDemoImage({ arch: 'arm64', outDir: join(repo, 'out/demo') })
  await rm(out, { recursive: true, force: true })
})

test('pibake build recipes/cluster-node.ts publishes, and the second run re-runs nothing before publish', async () => {
  const first = await pibake(['build', 'recipes/cluster-node.ts', '--out', out, '--json'])
  assert.is(first.code, 0, first.stderr)
  assert.is(planOf(first.stdout).netboot, 'run')
  const second = await pibake(['build', 'recipes/cluster-node.ts', '--out', out, '--json'])
  assert.is(second.code, 0, second.stderr)
  const plan = planOf(second.stdout)
  for (const stage of ['image', 'extract', 'overlay', 'netboot']) assert.is(plan[stage], 'cached', `${stage} is cached the second time`)
  assert.match(second.stdout, 'already live')
  assert.equal(await leftovers(out), [])
  // The image this recipe reads, not all of out/demo: a demo image built meanwhile beside the tests
  // (scripts/test.sh) attaches loop devices to its own files there.
  assert.equal(await leftovers(image), [])
})

test('the published node files point at the build over NFS', async () => {
  const id = (await readlink(join(out, 'publish/nfs/cluster-node/current'))).split('/')[1]!
  const cmdline = await readFile(join(out, 'publish/tftp/dc-a6-32-00-00-01/cmdline.txt'), 'utf8')
  assert.match(cmdline, `root=/dev/nfs ip=dhcp rootwait ro nfsroot=10.42.0.1:${out}/publish/nfs/cluster-node/builds/${id},vers=3`)
  const kernel = await readFile(join(out, 'publish/tftp/d8-3a-dd-00-00-03/kernel8.img'))
  assert.ok(kernel.length > 1 << 20, 'the demo kernel is published for every node')
})

test('pibake diff between the image root and the published root lists exactly the recipe changes', async () => {
  const result = await pibake(['diff', image, join(out, 'publish/nfs/cluster-node/current/'), '--json'])
  assert.is(result.code, 0, result.stderr)
  const diff = JSON.parse(result.stdout) as Record<'added' | 'removed' | 'changed', { path: string }[]>
  const paths = (kind: 'added' | 'removed' | 'changed') => diff[kind].map((c) => c.path)
  assert.equal(paths('changed'), ['/etc/fstab', '/etc/hostname', '/etc/hosts', '/etc/machine-id', '/etc/motd'])
  assert.equal(paths('added'), [
    '/etc/ssh/sshd_config.d/cluster.conf',
    '/etc/ssh/sshd_config.d/pibake-identity.conf',
    '/etc/systemd/system/apt-daily-upgrade.timer', // masked: the read-only root's timers that would change it
    '/etc/systemd/system/apt-daily.timer',
    '/etc/systemd/system/dphys-swapfile.service',
    '/etc/systemd/system/dpkg-db-backup.timer',
    '/etc/systemd/system/multi-user.target.wants/pibake-identity.service',
    '/etc/systemd/system/pibake-identity.service',
    '/etc/systemd/system/regenerate_ssh_host_keys.service',
    '/etc/systemd/system/userconfig.service',
    '/usr/lib/pibake',
    '/usr/lib/pibake/identity',
    '/usr/local/bin/cluster-info',
    '/var/lib/dhcp', // tmpfs mount points the image lacks
    '/var/lib/dhcpcd',
    '/var/lib/logrotate',
  ])
  assert.equal(paths('removed'), [
    ...['ecdsa', 'ed25519', 'rsa'].flatMap((t) => [`/etc/ssh/ssh_host_${t}_key`, `/etc/ssh/ssh_host_${t}_key.pub`]),
    '/etc/systemd/system/multi-user.target.wants/dphys-swapfile.service',
    '/etc/systemd/system/multi-user.target.wants/regenerate_ssh_host_keys.service',
    '/etc/systemd/system/multi-user.target.wants/userconfig.service',
    '/etc/systemd/system/timers.target.wants/apt-daily-upgrade.timer',
    '/etc/systemd/system/timers.target.wants/apt-daily.timer',
    '/etc/systemd/system/timers.target.wants/dpkg-db-backup.timer',
  ])
  assert.equal(await leftovers(image), [], 'the image snapshot left no mount or loop device')
})

test.run()
