/**
 * The generated nfs-ganesha EXPORT blocks served by the real ganesha (with rpcbind, in a private
 * mount namespace inside a test network namespace) and read with libnfs from two clients: one on
 * the netboot subnet, one outside it.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderGaneshaExports } from '../../src/netboot/exports.ts'
import { rangeDhcp, recipe } from '../helpers/netboot-recipe.ts'
import { netbootDir } from '../helpers/netboot-tree.ts'
import { withLan, type TestLan } from '../helpers/netns.ts'

const NFS = '10.77.0.2'

/**
 * rpcbind, then ganesha in the foreground. The tmpfs on /run keeps their sockets apart from the
 * host's; the paths come in as arguments, never inside the script text.
 */
const SERVE = [
  'mount -t tmpfs tmpfs /run',
  'mkdir -p /run/ganesha',
  'rpcbind -w -f & echo $! > "$4"',
  'while [ ! -S /run/rpcbind.sock ]; do sleep 0.05; done',
  'exec ganesha.nfsd -F -f "$1" -L "$2" -p "$3" -N NIV_EVENT',
].join('\n')

async function nfs(lan: TestLan, host: string, argv: readonly string[]): Promise<{ code: number; out: string }> {
  const result = await lan.run(host, ['timeout', '10', ...argv], { okCodes: [1, 10, 124, 243, 251] })
  return { code: result.exitCode, out: `${result.stdout}${result.stderr}` }
}

test('ganesha serves the root read-only and the shared folder read-write (root squashed) to the subnet, and nothing outside it', async () => {
  const tree = netbootDir()
  try {
    const root = join(tree.dir, 'nfs', 'cluster')
    const shared = join(tree.dir, 'nfs', 'shared')
    tree.write('nfs/cluster/builds/b1/etc/hostname', 'node\n')
    // Like a shared /tmp: anyone may write here, and a folder inside only root may write to.
    mkdirSync(join(shared, 'root-only'), { recursive: true, mode: 0o755 })
    chmodSync(shared, 0o1777)
    const exportsText = renderGaneshaExports(recipe({ dhcp: rangeDhcp, nodes: [] }), { rootPath: root, sharedPath: shared })
    const conf = tree.write('ganesha.conf', [
      'NFS_CORE_PARAM { Enable_NLM = false; Enable_RQUOTA = false; MNT_Port = 20048; }',
      `NFSV4 { Graceless = true; RecoveryRoot = "${join(tree.dir, 'recovery')}"; }`,
      exportsText,
    ].join('\n'))
    const files = { log: join(tree.dir, 'ganesha.log'), pid: join(tree.dir, 'ganesha.pid'), rpcbind: join(tree.dir, 'rpcbind.pid') }
    const hostRecovery = existsSync('/var/lib/nfs/ganesha') ? statSync('/var/lib/nfs/ganesha').mtimeMs : undefined

    const hosts = [{ name: 'nfs', address: `${NFS}/24` }, { name: 'node', address: '10.77.0.11/24' }, { name: 'other', address: '10.77.1.5/16' }]
    await withLan(hosts, async (lan) => {
      const log = () => (existsSync(files.log) ? readFileSync(files.log, 'utf8') : '')
      const argv = ['unshare', '-m', '--propagation', 'private', 'sh', '-euc', SERVE, 'sh', conf, files.log, files.pid, files.rpcbind]
      await lan.start('nfs', argv, { pidFile: files.pid, timeoutMs: 15000, ready: () => /NFS SERVER INITIALIZED/.test(log()), diagnose: log })
      lan.track(Number(readFileSync(files.rpcbind, 'utf8')))
      // The other client sits outside the export's /24 but on the same wire: let the answers reach it.
      await lan.run('nfs', ['ip', 'route', 'add', '10.77.1.0/24', 'dev', 'eth0'])

      const url = (path: string, version = 3) => `nfs://${NFS}${path}?version=${version}`
      assert.equal(await nfs(lan, 'node', ['nfs-cat', url(`${root}/builds/b1/etc/hostname`)]), { code: 0, out: 'node' }, 'NFSv3, below the export')
      assert.equal(await nfs(lan, 'node', ['nfs-cat', url(`${root}/builds/b1/etc/hostname`, 4)]), { code: 0, out: 'node' }, 'NFSv4')
      assert.match((await nfs(lan, 'node', ['nfs-cp', '/etc/hostname', url(`${root}/x`)])).out, 'NFS3ERR_ROFS')
      assert.is((await nfs(lan, 'node', ['nfs-cp', '/etc/hostname', url(`${shared}/x`)])).code, 0)
      assert.ok(existsSync(join(shared, 'x')), 'written through the read-write export')
      assert.is.not(statSync(join(shared, 'x')).uid, 0, "root_squash: the node's root writes as the anonymous user")
      assert.match((await nfs(lan, 'node', ['nfs-cp', '/etc/hostname', url(`${shared}/root-only/x`)])).out, /ACCES|PERM/)
      assert.not.ok(existsSync(join(shared, 'root-only/x')), "root_squash: the node's root cannot write where only root may")
      assert.not.ok(existsSync(join(root, 'x')))
      assert.match((await nfs(lan, 'other', ['nfs-cat', url(`${root}/builds/b1/etc/hostname`)])).out, 'MNT3ERR_ACCES')
      assert.ok(existsSync(join(tree.dir, 'recovery', 'v4recov')), 'NFSv4 client records go to the test folder, not /var/lib/nfs/ganesha')
    })
    if (hostRecovery !== undefined) assert.is(statSync('/var/lib/nfs/ganesha').mtimeMs, hostRecovery, "the host's ganesha state is left alone")
  } finally {
    tree.remove()
  }
})

test.run()
