/**
 * Seeding the nodes' persisted folders (`netboot.persist`) on the NFS host, here and over SSH to a
 * real sshd: a node's missing folder becomes a copy of the build's (owners, modes, links kept), a
 * folder the node has is never touched again whatever the build now holds, and a seed cut off
 * before its rename starts again.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { persistNodeDir } from '../../src/netboot/persist.ts'
import { localHost, type Host } from '../../src/publish/host.ts'
import { seedPersist } from '../../src/publish/persist.ts'
import { sshHost } from '../../src/publish/ssh-host.ts'
import { exec } from '../../src/system/exec.ts'
import { TestLan } from '../helpers/netns.ts'
import { startSshd } from '../helpers/sshd.ts'

const NODES = [
  { hostname: 'n1', mac: 'dc:a6:32:00:c0:01' },
  { hostname: 'n2', mac: 'dc:a6:32:00:c0:02' },
]
const FOLDERS = ['/var/lib/rancher', '/etc/rancher']
const NFS_HOST = '10.79.1.2'

let dir: string

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-persist-'))
})

test.after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A build's root with both folders: a file of an odd owner and mode, a symlink, a private sub-folder. */
async function buildRoot(name: string, token: string): Promise<string> {
  const root = join(dir, name)
  await mkdir(join(root, 'var/lib/rancher/k3s'), { recursive: true })
  await chmod(join(root, 'var/lib/rancher/k3s'), 0o700)
  await writeFile(join(root, 'var/lib/rancher/k3s/token'), token)
  await chown(join(root, 'var/lib/rancher/k3s/token'), 1234, 5678)
  await chmod(join(root, 'var/lib/rancher/k3s/token'), 0o640)
  await symlink('k3s/token', join(root, 'var/lib/rancher/link'))
  await mkdir(join(root, 'etc/rancher'), { recursive: true })
  await chmod(join(root, 'etc/rancher'), 0o750)
  return root
}

async function describe(path: string): Promise<string> {
  const info = await lstat(path)
  return `${(info.mode & 0o7777).toString(8)} ${info.uid}:${info.gid}`
}

async function seedsAndKeeps(host: Host, nfs: string): Promise<void> {
  const first = await buildRoot(`root-${host.name.replace(/\W/g, '')}-1`, 'from build 1\n')
  const seeded = await seedPersist({ host, nfs, root: first, nodes: NODES, folders: FOLDERS })
  assert.equal(seeded, ['n1:/var/lib/rancher', 'n2:/var/lib/rancher', 'n1:/etc/rancher', 'n2:/etc/rancher'], 'every folder of every node seeded')
  for (const node of NODES) {
    const mine = persistNodeDir(nfs, node.mac)
    assert.is(await readFile(join(mine, 'var/lib/rancher/k3s/token'), 'utf8'), 'from build 1\n')
    assert.is(await describe(join(mine, 'var/lib/rancher/k3s/token')), '640 1234:5678', "the file's owner and mode are the build's")
    assert.is(await describe(join(mine, 'var/lib/rancher/k3s')), '700 0:0', "and its folder's")
    assert.is(await describe(join(mine, 'etc/rancher')), '750 0:0', "the persisted folder's own mode is the build's")
    assert.is(await readlink(join(mine, 'var/lib/rancher/link')), 'k3s/token', 'a symlink stays a symlink')
    assert.equal((await readdir(join(mine, 'var/lib'))).sort(), ['rancher'], 'no temporary name is left')
  }
  assert.is(await describe(join(nfs, '_persist')), '700 0:0', 'only root on the NFS host reads the nodes\' folders')

  // The node writes; a later build has other content: nothing of the node's changes.
  const n1 = persistNodeDir(nfs, NODES[0]!.mac)
  await writeFile(join(n1, 'var/lib/rancher/k3s/token'), 'the node wrote this\n')
  await writeFile(join(n1, 'etc/rancher/node.yaml'), 'node: n1\n')
  await rm(join(persistNodeDir(nfs, NODES[1]!.mac), 'etc/rancher'), { recursive: true })
  const second = await buildRoot(`root-${host.name.replace(/\W/g, '')}-2`, 'from build 2\n')
  await writeFile(join(second, 'etc/rancher/new-in-build-2'), 'new\n')
  const again = await seedPersist({ host, nfs, root: second, nodes: NODES, folders: FOLDERS })
  assert.equal(again, ['n2:/etc/rancher'], 'only the folder that is gone is seeded again')
  assert.is(await readFile(join(n1, 'var/lib/rancher/k3s/token'), 'utf8'), 'the node wrote this\n', "the node's file is never overwritten")
  assert.equal((await readdir(join(n1, 'etc/rancher'))).sort(), ['node.yaml'], 'nor added to: the new build\'s file is not merged in')
  assert.equal((await readdir(join(persistNodeDir(nfs, NODES[1]!.mac), 'etc/rancher'))).sort(), ['new-in-build-2'], 'the re-seeded folder is the new build\'s')
}

test('here: each node gets a copy of the build\'s folders, owners and modes kept, and a folder it has is never touched again', async () => {
  await seedsAndKeeps(localHost(), join(dir, 'nfs-local'))
})

test('a seed cut off before its rename is not the node\'s: the next publish seeds it whole', async () => {
  const nfs = join(dir, 'nfs-cut')
  const root = await buildRoot('root-cut', 'whole\n')
  const parent = join(persistNodeDir(nfs, NODES[0]!.mac), 'var/lib')
  // Whatever the cut-off copy left under the temporary name, here a file where the folder goes.
  await mkdir(parent, { recursive: true })
  await writeFile(join(parent, '.rancher.pibake-seed'), 'cut off\n')
  const seeded = await seedPersist({ host: localHost(), nfs, root, nodes: NODES.slice(0, 1), folders: ['/var/lib/rancher'] })
  assert.equal(seeded, ['n1:/var/lib/rancher'])
  assert.equal((await readdir(parent)).sort(), ['rancher'])
  assert.equal((await readdir(join(parent, 'rancher'))).sort(), ['k3s', 'link'], 'nothing of the cut-off copy')
})

test('over SSH to a real sshd: the same, on the NFS host', async () => {
  const lan = new TestLan()
  const host = { current: undefined as Host | undefined }
  try {
    await lan.setup([{ name: 'nfs', address: `${NFS_HOST}/24` }])
    await lan.attachHere('10.79.1.254/24')
    const key = join(dir, 'id_test')
    await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'pibake-persist-test', '-f', key])
    const sshd = await startSshd(lan, { host: 'nfs', address: NFS_HOST, dir: join(dir, 'sshd'), authorizedKey: readFileSync(`${key}.pub`, 'utf8') })
    const knownHosts = join(dir, 'known_hosts')
    writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`)
    host.current = sshHost({ user: 'root', host: NFS_HOST, port: 22, identity: key, knownHosts })
    // The sshd's namespace shares this machine's files: what arrived is read here.
    await seedsAndKeeps(host.current, join(dir, 'nfs-ssh'))
  } finally {
    await host.current?.close()
    await lan.close()
  }
})

test.run()
