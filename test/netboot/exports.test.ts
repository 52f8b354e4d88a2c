import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError } from '../../src/errors.ts'
import { exportFsid, netbootSubnet, renderExports, renderGaneshaExports } from '../../src/netboot/exports.ts'
import type { Dhcp } from '../../src/recipe/types.ts'
import { proxyDhcp, rangeDhcp, recipe } from '../helpers/netboot-recipe.ts'

const settings = (text: string) => text.split('\n').filter((line) => line && !line.startsWith('#'))
const pibakeError = (pattern: RegExp) => (e: unknown) => e instanceof PibakeError && pattern.test(e.message)

test('root read-only and shared folder read-write, for the netboot subnet', () => {
  const r = recipe({ dhcp: rangeDhcp, nodes: [] })
  const text = renderExports(r, { rootPath: '/srv/nfs/cluster', sharedPath: '/srv/nfs/shared' })
  const root = exportFsid('cluster', '/srv/nfs/cluster')
  const shared = exportFsid('cluster', '/srv/nfs/shared')
  assert.equal(settings(text), [
    `/srv/nfs/cluster 10.77.0.0/24(ro,no_root_squash,no_subtree_check,fsid=${root})`,
    `/srv/nfs/shared 10.77.0.0/24(rw,sync,root_squash,no_subtree_check,fsid=${shared})`,
  ])
  assert.match(text, '# NFS exports for the pibake recipe "cluster"')
  assert.match(text, 'exportfs -ra')
})

test('only the shared folder squashes root, and only unless told not to (shared accounts)', () => {
  const r = recipe({ dhcp: rangeDhcp, nodes: [] })
  const options = { rootPath: '/srv/nfs/cluster', sharedPath: '/srv/nfs/shared', nodes: [{ path: '/srv/nfs/cluster/nodes/n1', client: '10.77.0.11' }] }
  const squashOf = (text: string) => settings(text).map((line) => /\((?:ro|rw,sync),(\w+),/.exec(line)?.[1])
  assert.equal(squashOf(renderExports(r, options)), ['no_root_squash', 'root_squash', 'no_root_squash'])
  assert.equal(squashOf(renderExports(r, { ...options, sharedRootSquash: false })), ['no_root_squash', 'no_root_squash', 'no_root_squash'])
  const ganesha = (text: string) => [...text.matchAll(/Squash = (\w+);/g)].map((m) => m[1])
  assert.equal(ganesha(renderGaneshaExports(r, options)), ['No_Root_Squash', 'Root_Squash', 'No_Root_Squash'])
  assert.equal(ganesha(renderGaneshaExports(r, { ...options, sharedRootSquash: false })), ['No_Root_Squash', 'No_Root_Squash', 'No_Root_Squash'])
})

test('fsid is stable, derived from recipe name and path, never 0, and differs between exports', () => {
  assert.is(exportFsid('cluster', '/srv/nfs/cluster'), exportFsid('cluster', '/srv/nfs/cluster'))
  assert.is.not(exportFsid('cluster', '/srv/nfs/cluster'), exportFsid('classroom', '/srv/nfs/cluster'))
  assert.is.not(exportFsid('cluster', '/srv/nfs/cluster'), exportFsid('cluster', '/srv/nfs/other'))
  for (const name of ['a', 'b', 'c', 'cluster']) {
    const fsid = exportFsid(name, '/x')
    assert.ok(Number.isInteger(fsid) && fsid > 0 && fsid < 2 ** 31, String(fsid))
  }
  const render = () => renderExports(recipe({ dhcp: proxyDhcp, nodes: [] }), { rootPath: '/srv/nfs/cluster/' })
  assert.is(render(), render())
  assert.match(render(), `fsid=${exportFsid('cluster', '/srv/nfs/cluster')})`, 'a trailing slash does not change the fsid')
})

test('clients default to the proxy network as a /24, or the range network with its mask', () => {
  assert.is(netbootSubnet(recipe({ dhcp: proxyDhcp, nodes: [] })), '10.77.0.0/24')
  assert.is(netbootSubnet(recipe({ dhcp: { mode: 'proxy', network: '192.168.1.255' }, nodes: [] })), '192.168.1.0/24')
  const wide: Dhcp = { mode: 'range', start: '172.16.5.10', end: '172.16.6.200', netmask: '255.255.252.0', dns: [] }
  assert.is(netbootSubnet(recipe({ dhcp: wide, nodes: [] })), '172.16.4.0/22')
  const odd: Dhcp = { mode: 'range', start: '10.0.0.10', end: '10.0.0.20', netmask: '255.0.255.0', dns: [] }
  assert.throws(() => netbootSubnet(recipe({ dhcp: odd, nodes: [] })), pibakeError(/not contiguous/))
})

test('given clients replace the subnet, one entry per client', () => {
  const text = renderExports(recipe({ dhcp: proxyDhcp, nodes: [] }), { rootPath: '/srv/nfs/cluster', clients: '10.1.0.0/16 nfs-test' })
  const fsid = exportFsid('cluster', '/srv/nfs/cluster')
  assert.equal(settings(text), [
    `/srv/nfs/cluster 10.1.0.0/16(ro,no_root_squash,no_subtree_check,fsid=${fsid}) nfs-test(ro,no_root_squash,no_subtree_check,fsid=${fsid})`,
  ])
  assert.throws(() => renderExports(recipe({ dhcp: proxyDhcp, nodes: [] }), { rootPath: '/r', clients: '*(rw)' }), pibakeError(/NFS clients/))
})

test('paths with white space are escaped as exports(5) wants; relative or shared-equals-root paths are refused', () => {
  const text = renderExports(recipe({ dhcp: proxyDhcp, nodes: [] }), { rootPath: '/srv/my nfs/cluster' })
  assert.ok(settings(text)[0]?.startsWith('/srv/my\\040nfs/cluster 10.77.0.0/24('))
  assert.throws(() => renderExports(recipe({ dhcp: proxyDhcp, nodes: [] }), { rootPath: 'srv/nfs' }), pibakeError(/not an absolute path/))
  assert.throws(() => renderExports(recipe({ dhcp: proxyDhcp, nodes: [] }), { rootPath: '/srv/a', sharedPath: '/srv/a/' }), pibakeError(/is the root filesystem folder/))
})

test('ganesha: one EXPORT block each, closed to everyone but the clients, root read-only', () => {
  const text = renderGaneshaExports(recipe({ dhcp: rangeDhcp, nodes: [] }), { rootPath: '/srv/nfs/cluster', sharedPath: '/srv/nfs/shared' })
  const blocks = text.split('EXPORT {').slice(1)
  assert.is(blocks.length, 2)
  const [root, shared] = blocks as [string, string]
  assert.match(root, 'Path = "/srv/nfs/cluster";')
  assert.match(root, 'Pseudo = "/srv/nfs/cluster";')
  assert.match(root, 'Access_Type = None;')
  assert.match(root, 'Squash = No_Root_Squash;')
  assert.match(root, 'FSAL { Name = VFS; }')
  assert.match(root, 'CLIENT { Clients = 10.77.0.0/24; Access_Type = RO; }')
  assert.match(shared, 'CLIENT { Clients = 10.77.0.0/24; Access_Type = RW; }')
  const ids = [...text.matchAll(/Export_Id = (\d+);/g)].map((m) => Number(m[1]))
  assert.is(ids.length, 2)
  assert.is.not(ids[0], ids[1])
  assert.ok(ids.every((id) => id >= 1 && id <= 0xffff))
  assert.is(renderGaneshaExports(recipe({ dhcp: rangeDhcp, nodes: [] }), { rootPath: '/srv/nfs/cluster', sharedPath: '/srv/nfs/shared' }), text)
})

test.run()
