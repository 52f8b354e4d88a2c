/**
 * Publishing over SSH to real OpenSSH servers: an "nfs" and a "pxe" host, each sshd in a namespace of
 * its own on a test LAN this process is plugged into. The same recipe is published locally too, and
 * the trees that arrived over SSH must equal the local ones (hard links, modes, owners, xattrs).
 */
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { chmod, mkdir, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import { PibakeError } from '../../src/errors.ts'
import { sshHost } from '../../src/publish/ssh-host.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import type { NfsServerInput, PublishTargetInput } from '../../src/recipe/types.ts'
import { diffSnapshots, takeSnapshot } from '../../src/snapshot/index.ts'
import { exec } from '../../src/system/exec.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { signal } from '../helpers/process.ts'
import { TestLan } from '../helpers/netns.ts'
import { makeProject, type Project } from '../helpers/project.ts'
import { startSshd, type Sshd } from '../helpers/sshd.ts'

const NFS = '10.79.0.2'
const PXE = '10.79.0.3'
let project: Project
let lan: TestLan
let nfs: Sshd
let pxe: Sshd
let key: string
let knownHosts: string
/** Where each server keeps what it receives (the namespaces share this machine's files). */
let nfsRoot: string
let pxeRoot: string

const ssh = (host: string, path: string, extra: Record<string, unknown> = {}) => ({ host: `root@${host}`, path, identity: key, knownHosts, ...extra })
const remoteTarget = (extra: Partial<PublishTargetInput> = {}): PublishTargetInput => ({
  nfs: ssh(NFS, nfsRoot),
  tftp: ssh(PXE, join(pxeRoot, 'tftp')),
  config: ssh(PXE, join(pxeRoot, 'etc')),
  ...extra,
})

async function publish(targets: PublishTargetInput[], events: BuildEvent[] = []): Promise<BuildEvent[]> {
  const recipe = project.recipe((input) => {
    input.publish = targets
    ;(input.netboot.nfs as NfsServerInput).path = nfsRoot
  })
  const started = performance.now()
  const debug = (e: BuildEvent) => process.env.PIBAKE_DEBUG && e.type !== 'progress' && process.stderr.write(`#   ${((performance.now() - started) / 1000).toFixed(1)} ${JSON.stringify(e).slice(0, 160)}\n`)
  await build(recipe, { outDir: project.out, onEvent: (e) => (events.push(e), debug(e)) }).catch((error: unknown) => {
    process.stderr.write(`# publish to ${targets.length} target(s) failed after ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
    throw error
  })
  process.stderr.write(`# publish to ${targets.length} target(s): ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
  return events
}

const infos = (events: readonly BuildEvent[]) => events.flatMap((e) => (e.type === 'info' ? [e.message] : []))
const live = async () => (await readlink(join(nfsRoot, 'test-node/current'))).replace('builds/', '')

test.before(async () => {
  // uvu counts a failing before hook as failed tests but never prints why: say it here.
  await setup().catch((error: unknown) => {
    process.stderr.write(`ssh test setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  })
})

async function setup(): Promise<void> {
  project = await makeProject()
  await chmod(project.dir, 0o755)
  await project.write('etc/motd', 'first\n')
  nfsRoot = join(project.dir, 'nfs-host/srv/pibake')
  pxeRoot = join(project.dir, 'pxe-host/srv')
  key = join(project.dir, 'id_test')
  knownHosts = join(project.dir, 'known_hosts')
  await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key])
  const authorizedKey = readFileSync(`${key}.pub`, 'utf8')
  lan = new TestLan()
  await lan.setup([{ name: 'nfs', address: `${NFS}/24` }, { name: 'pxe', address: `${PXE}/24` }])
  await lan.attachHere('10.79.0.254/24')
  nfs = await startSshd(lan, { host: 'nfs', address: NFS, dir: join(project.dir, 'sshd-nfs'), authorizedKey })
  // The boot server has no rsync: the boot files go over SFTP.
  // touch: the site lock's refresh (touch -c of its claim), without which a long hold goes stale.
  const programs = ['sh', 'cat', 'head', 'ls', 'mkdir', 'mv', 'rm', 'ln', 'readlink', 'chmod', 'cp', 'dirname', 'basename', 'sync', 'stat', 'echo', 'true', 'touch']
  pxe = await startSshd(lan, { host: 'pxe', address: PXE, dir: join(project.dir, 'sshd-pxe'), authorizedKey, programs })
  writeFileSync(knownHosts, `${nfs.knownHostsLine}\n`)
}

test.after(async () => {
  try {
    await lan?.close()
  } finally {
    const left = project ? await leftBehind(project.dir) : []
    await project?.remove()
    assert.equal(left, [], 'no loop device or mount is left')
  }
})

test('an unknown host key is refused with its fingerprint and the command that trusts it; nothing is written', async () => {
  const error = await publish([remoteTarget()]).catch((e: unknown) => e)
  assert.instance(error, PibakeError)
  const { message, hint } = error as PibakeError
  assert.match(message, `root@${PXE} is not a known host`)
  assert.match(message, /it offers 256 SHA256:\S+ \(ED25519\)|it offers SHA256:/)
  assert.match(hint ?? '', `ssh-keyscan -p 22 ${PXE} >> ${knownHosts}`)
  assert.equal(await readdir(pxeRoot).catch(() => []), [], 'nothing was written on the boot server')
  assert.equal(await readdir(join(project.dir, 'nfs-host'), { recursive: true }).catch(() => []), [], 'nor on the NFS host, whose key is known')
  appendFileSync(knownHosts, `${pxe.knownHostsLine}\n`)
})

test('first publish: the root over rsync to the NFS host, boot files over SFTP to the boot server, equal to a local publish', async () => {
  const events = await publish([remoteTarget()])
  assert.match(infos(events).join('\n'), /published build \S+ .*: \d+ files, .* of content sent/)
  await publish([{ nfs: join(project.out, 'local/nfs'), tftp: join(project.out, 'local/tftp'), config: join(project.out, 'local') }])
  const id = await live()
  const localId = (await readlink(join(project.out, 'local/nfs/test-node/current'))).replace('builds/', '')
  const diff = diffSnapshots(await takeSnapshot(join(project.out, 'local/nfs/test-node/builds', localId)), await takeSnapshot(join(nfsRoot, 'test-node/builds', id)))
  assert.equal([diff.added, diff.removed, diff.changed], [[], [], []], 'the root that arrived over SSH equals the local one')
  const node = join(pxeRoot, 'tftp', 'dc-a6-32-00-00-01')
  assert.is(await readlink(node), `builds/test-node/${id}/dc-a6-32-00-00-01`)
  assert.match(readFileSync(join(node, 'cmdline.txt'), 'utf8'), `nfsroot=10.99.0.2:${nfsRoot}/test-node/builds/${id},vers=3`)
  const keysDir = join(nfsRoot, 'test-node/nodes/dc-a6-32-00-00-01')
  assert.is((await stat(keysDir)).mode & 0o777, 0o700)
  assert.is((await stat(join(keysDir, 'ssh_host_ed25519_key'))).mode & 0o777, 0o600)
  for (const file of ['dnsmasq.conf', 'exports', 'ganesha.conf', 'hosts', 'pibake/test-node.json']) assert.ok(readFileSync(join(pxeRoot, 'etc', file), 'utf8'))
  for (const file of ['exports', 'ganesha.conf']) assert.is(readFileSync(join(nfsRoot, file), 'utf8'), readFileSync(join(pxeRoot, 'etc', file), 'utf8'), `${file} on the NFS host too`)
})

test('an unchanged republish sends nothing; a changed file sends about that file', async () => {
  const id = await live()
  assert.match(infos(await publish([remoteTarget()])).join('\n'), `build ${id} is already live`)
  const big = 'x'.repeat(300_000)
  await project.write('etc/motd', `${big}\n`)
  const text = infos(await publish([remoteTarget()])).join('\n')
  const sent = /: (\d+) files, ([\d.]+) (B|KiB|MiB) of content sent/.exec(text)
  assert.ok(sent, text)
  const bytes = Number(sent[2]) * { B: 1, KiB: 1024, MiB: 1024 * 1024 }[sent[3] as 'B']
  assert.ok(bytes >= 300_000 && bytes < 400_000, `about the changed file's size was sent: ${sent[0]}`)
  assert.is.not(await live(), id)
})

test('reload commands run on their host only when their file changed; a failing one says the build is live', async () => {
  const marker = join(project.dir, 'reloaded')
  // The namespaces share this machine's files: each command writes the address its SSH session came
  // in on (sshd's SSH_CONNECTION: client address, port, server address, port), which names the host.
  const reload = { dnsmasq: `echo dnsmasq $SSH_CONNECTION >> ${marker}`, exports: `echo exports $SSH_CONNECTION >> ${marker}` }
  const ran = () => readFileSync(marker, 'utf8').split('\n').filter(Boolean).map((line) => `${line.split(' ')[0]} on ${line.split(' ')[3]}`).sort()
  await project.write('etc/motd', 'reload test\n')
  await publish([remoteTarget({ reload })])
  assert.not.ok(existsSync(marker), 'nothing changed in the configuration: no reload')
  const withMac = (mac: string, target: PublishTargetInput) =>
    project.recipe((input) => {
      input.publish = [target]
      ;(input.netboot.nfs as NfsServerInput).path = nfsRoot
      input.nodes[0]!.mac = mac
    })
  await build(withMac('dc:a6:32:00:00:11', remoteTarget({ reload })), { outDir: project.out })
  assert.equal(ran(), [`dnsmasq on ${PXE}`, `exports on ${NFS}`], 'a node\'s new MAC changed dnsmasq.conf and exports: each reloaded on its own host')
  const error = await build(withMac('dc:a6:32:00:00:21', remoteTarget({ reload: { dnsmasq: 'echo cannot reload >&2; exit 3' } })), { outDir: project.out }).catch((e: unknown) => e)
  assert.match(String(error), new RegExp(`build ${await live()} is live, but reloading dnsmasq on root@10\\.79\\.0\\.3 failed`))
  assert.match(String(error), 'cannot reload')
})

test('a connection cut mid-transfer leaves the live build untouched; the next run resumes and completes', async () => {
  const before = await live()
  const beforeTree = await takeSnapshot(join(nfsRoot, 'test-node/builds', before))
  await mkdir(join(project.overlay, 'rootfs/opt'), { recursive: true })
  await exec(['dd', 'if=/dev/urandom', `of=${join(project.overlay, 'rootfs/opt/big.bin')}`, 'bs=1M', 'count=192', 'status=none'])
  const events: BuildEvent[] = []
  const running = publish([remoteTarget()], events).then(() => undefined, (error: unknown) => error)
  const builds = join(nfsRoot, 'test-node/builds')
  let cut = false
  for (let waited = 0; waited < 120_000 && !cut; waited += 100) {
    await sleep(100)
    if ((await partialBytes(builds)) > 16 * 1024 * 1024) {
      // The connection drops: the NFS server's SSH session processes die at once (the rsync they
      // ran there is left to notice its input gone, as after a network failure).
      for (const pid of descendants(nfs.server.pid).filter(isSshd)) signal(pid, 'SIGKILL')
      cut = true
    }
  }
  assert.ok(cut, 'the transfer was seen under way')
  const error = await running
  assert.instance(error, Error, 'the publish failed')
  assert.is(await live(), before, 'the live build is still the one before')
  const after = diffSnapshots(beforeTree, await takeSnapshot(join(nfsRoot, 'test-node/builds', before)))
  assert.equal([after.added, after.removed, after.changed], [[], [], []], 'and untouched')
  assert.ok((await readdir(builds)).some((name) => /^\..+\.partial$/.test(name)), 'the cut-off tree is kept')
  const resumed = infos(await publish([remoteTarget()])).join('\n')
  assert.match(resumed, 'resuming the cut-off publish')
  const sent = /: \d+ files, ([\d.]+) MiB of content sent/.exec(resumed)
  assert.ok(sent && Number(sent[1]) < 190, `only what was missing was sent: ${resumed}`)
  assert.is.not(await live(), before)
  assert.equal((await readdir(builds)).filter((name) => name.endsWith('.partial')), [])
  await rm(join(project.overlay, 'rootfs/opt'), { recursive: true })
})

test('a changed host key is refused loudly', async () => {
  await nfs.server.stop()
  const reinstalled = await startSshd(lan, { host: 'nfs', address: NFS, dir: join(project.dir, 'sshd-nfs'), authorizedKey: readFileSync(`${key}.pub`, 'utf8') })
  const error = await publish([remoteTarget()]).catch((e: unknown) => e)
  assert.instance(error, PibakeError)
  assert.match((error as PibakeError).message, `the host key of root@${NFS} has CHANGED`)
  assert.match((error as PibakeError).hint ?? '', `ssh-keygen -R '${NFS}' -f ${knownHosts}`)
  writeFileSync(knownHosts, readFileSync(knownHosts, 'utf8').replace(nfs.knownHostsLine, reinstalled.knownHostsLine))
  nfs = reinstalled
})

test('two targets at once, one of them down: the other is published, and the build fails naming the one', async () => {
  const down = '10.79.0.9'
  const local = { nfs: join(project.out, 'local/nfs'), tftp: join(project.out, 'local/tftp'), config: join(project.out, 'local') }
  const before = await readlink(join(project.out, 'local/nfs/test-node/current'))
  await project.write('etc/motd', 'two targets\n')
  appendFileSync(knownHosts, `${nfs.knownHostsLine.replace(NFS, down)}\n`)
  const events: BuildEvent[] = []
  const error = await publish([local, { nfs: ssh(down, '/srv/pibake'), tftp: ssh(down, '/srv/tftp') }], events).catch((e: unknown) => e)
  assert.match(String(error), '1 of 2 targets failed')
  assert.match(String(error), `root@${down}`)
  assert.is.not(await readlink(join(project.out, 'local/nfs/test-node/current')), before, 'the reachable target got the new build')
  assert.ok(events.some((e) => e.type === 'warning' && e.message.includes(`cannot reach root@${down}`)))
})

test("a file on the server is read as it is, and one larger than the reader's limit is refused unread", async () => {
  const trusted = join(project.dir, 'known_hosts_pxe')
  writeFileSync(trusted, `${pxe.knownHostsLine}\n`)
  const files = sshHost({ user: 'root', host: PXE, port: 22, identity: key, knownHosts: trusted }).files
  const dir = join(pxeRoot, 'read-text')
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'plain'), 'one\ntwo')
  await writeFile(join(dir, 'newline'), 'one\ntwo\n')
  await writeFile(join(dir, 'big'), 'x'.repeat(1001))
  assert.is(await files.readText(join(dir, 'plain')), 'one\ntwo')
  assert.is(await files.readText(join(dir, 'newline')), 'one\ntwo\n')
  assert.is(await files.readText(join(dir, 'absent')), undefined)
  const error = await files.readText(join(dir, 'big'), 1000).catch((e: unknown) => e)
  assert.instance(error, PibakeError)
  assert.match(String(error), `root@${PXE}:${join(dir, 'big')} is larger than 1000 bytes`)
  assert.is((await files.readText(join(dir, 'big'), 1001))?.length, 1001)
  await rm(dir, { recursive: true })
})

test('a symlink on the server that leads out of the target is never written through', async () => {
  const outside = join(project.dir, 'outside')
  await mkdir(outside)
  await rm(join(nfsRoot, 'test-node'), { recursive: true, force: true })
  await symlink(outside, join(nfsRoot, 'test-node'))
  const error = await publish([remoteTarget()]).catch((e: unknown) => e)
  assert.match(String(error), /leads outside/)
  assert.equal(await readdir(outside), [])
  await rm(join(nfsRoot, 'test-node'))
})

test.run()

/** Bytes under the `.partial` trees of a builds folder (rsync's temporary files included). */
async function partialBytes(builds: string): Promise<number> {
  const partial = (await readdir(builds).catch(() => [] as string[])).find((name) => name.endsWith('.partial'))
  if (!partial) return 0
  const { stdout } = await exec(['du', '-s', '-b', join(builds, partial)], { okCodes: [1] })
  return Number(stdout.split(/\s/)[0] ?? 0)
}

function isSshd(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('sshd')
  } catch {
    return false
  }
}

/** Every process below `pid` (its children, theirs…), read from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>()
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let fields: string[]
    try {
      fields = readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
    } catch {
      continue // it ended meanwhile
    }
    const parent = Number(fields[1])
    parents.set(parent, [...(parents.get(parent) ?? []), Number(entry)])
  }
  const found: number[] = []
  const walk = (p: number): void => {
    for (const child of parents.get(p) ?? []) {
      found.push(child)
      walk(child)
    }
  }
  walk(pid)
  return found
}
