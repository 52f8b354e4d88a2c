/**
 * nfs-ganesha sized for the nodes of one NFS server, proven on the real ganesha 4.3: with its
 * default RPC_Max_Connections it closes client connections beyond about 1020; with the line the
 * published ganesha.conf says to add to NFS_CORE_PARAM, 1,100 clients all keep theirs. The
 * published file itself is %included, as a site includes it. Why the line is said rather than
 * written: a second NFS_CORE_PARAM block replaces the admin's whole (shown here too).
 */
import { existsSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderSiteGanesha, renderSiteExports } from '../../src/netboot/exports.ts'
import { ganeshaSizing, nfsdThreads } from '../../src/netboot/sizing.ts'
import { recipe } from '../helpers/netboot-recipe.ts'
import { netbootDir } from '../helpers/netboot-tree.ts'
import { withLan, type TestLan } from '../helpers/netns.ts'

const NFS = '10.77.0.2'
const CLIENTS = 1100

/** rpcbind, then ganesha in the foreground, with a tmpfs on /run (as test/netboot/exports-ganesha.test.ts does). */
const SERVE = [
  'mount -t tmpfs tmpfs /run',
  'mkdir -p /run/ganesha',
  'rpcbind -w -f & echo $! > "$4"',
  'while [ ! -S /run/rpcbind.sock ]; do sleep 0.05; done',
  'exec ganesha.nfsd -F -f "$1" -L "$2" -p "$3" -N NIV_EVENT',
].join('\n')

/** Opens `count` TCP connections to the NFS port, waits 2 s, says how many the server closed. */
const CLIENT = `
import net from 'node:net'
const [host, count] = [process.argv[2], Number(process.argv[3])]
const sockets = []
let closed = 0, failed = 0
await Promise.all(Array.from({ length: count }, () => new Promise((done) => {
  const socket = net.connect(2049, host)
  sockets.push(socket)
  socket.once('connect', done)
  socket.once('error', () => { failed += 1; done() })
  socket.once('close', () => { closed += 1 })
})))
await new Promise((wait) => setTimeout(wait, 2000))
process.stdout.write(JSON.stringify({ closed, failed }))
for (const socket of sockets) socket.destroy()
`

function fleetExports(nodes: number, root: string) {
  const fleet = recipe({ dhcp: { mode: 'range', start: '10.77.8.1', end: '10.77.8.9', netmask: '255.255.0.0', router: '10.77.0.1', dns: [] }, nodes: [] })
  const folders = Array.from({ length: nodes }, (_, i) => ({ path: join(root, 'cluster/nodes', `n${i}`), client: `10.77.${1 + (i >> 8)}.${(i & 0xff) + 1}` }))
  return [{ fleet, options: { rootPath: join(root, 'cluster/builds'), nodes: folders } }]
}

/** The NFS_CORE_PARAM lines the published file says to add: its "#   Name = value;" comment lines. */
function saidLines(published: string): string[] {
  return published.split('\n').flatMap((line) => /^#\s+(RPC_\w+ = \d+;)$/.exec(line)?.[1] ?? [])
}

test('60 nodes: nothing to say; 400: nfsd threads in the exports; 600: RPC_Max_Connections in the ganesha file too', () => {
  assert.not.match(renderSiteExports(fleetExports(60, '/srv/nfs')), 'threads=', '(8 + 3) x 20 = 220 connections serve 60 nodes')
  assert.not.match(renderSiteGanesha(fleetExports(400, '/srv/nfs')), 'RPC_Max_Connections')
  assert.match(renderSiteExports(fleetExports(400, '/srv/nfs')), '#   threads=41\n')
  const published = renderSiteGanesha(fleetExports(600, '/srv/nfs'))
  assert.equal(saidLines(published), [`RPC_Max_Connections = ${ganeshaSizing(600).maxConnections};`])
  assert.is(ganeshaSizing(600).maxConnections, 1264, 'two connections per node and 64 more')
  assert.match(renderSiteExports(fleetExports(600, '/srv/nfs')), `#   threads=${nfsdThreads(600)}\n`)
  assert.is(nfsdThreads(600), 61, '(61 + 3) x 20 = 1280 connections: at least two per node')
})

test(`the real ganesha: ${CLIENTS} clients with its defaults lose connections; with the line the published file says, none`, async () => {
  const tree = netbootDir()
  try {
    const published = tree.write('published-ganesha.conf', renderSiteGanesha(fleetExports(600, join(tree.dir, 'nfs'))))
    tree.write('nfs/cluster/builds/.keep', '')
    const client = tree.write('client.mjs', CLIENT)
    const conf = (core: string, name: string) => tree.write(name, [
      `NFS_CORE_PARAM { Enable_NLM = false; Enable_RQUOTA = false; MNT_Port = 20048; ${core} }`,
      `NFSV4 { Graceless = true; RecoveryRoot = "${join(tree.dir, 'recovery')}"; }`,
      `%include "${published}"`,
    ].join('\n'))
    const defaults = await serve(conf('', 'defaults.conf'), tree.dir, client)
    assert.ok(defaults.closed > 0 && defaults.closed <= CLIENTS - 1000, `ganesha's default closes the connections beyond about 1020 (closed ${defaults.closed})`)
    const sized = await serve(conf(saidLines(readFileSync(published, 'utf8')).join(' '), 'sized.conf'), tree.dir, client)
    assert.equal({ closed: sized.closed, failed: sized.failed }, { closed: 0, failed: 0 }, 'every client keeps its connection')
  } finally {
    tree.remove()
  }
})

test('a second NFS_CORE_PARAM block (as an included file would hold) replaces the admin\'s whole: Enable_NLM = false is lost', async () => {
  const tree = netbootDir()
  try {
    const second = tree.write('second.conf', 'NFS_CORE_PARAM { RPC_Max_Connections = 2000; }\n')
    const conf = tree.write('two-blocks.conf', [
      'NFS_CORE_PARAM { Enable_NLM = false; Enable_RQUOTA = false; MNT_Port = 20048; }',
      `NFSV4 { Graceless = true; RecoveryRoot = "${join(tree.dir, 'recovery')}"; }`,
      `%include "${second}"`,
    ].join('\n'))
    const programs = await serve(conf, tree.dir, undefined)
    assert.ok(programs.rpcinfo.includes('nlockmgr'), `NLM came back: the admin's block was replaced (${programs.rpcinfo})`)
  } finally {
    tree.remove()
  }
})

/** ganesha with `conf` on the LAN's NFS host: the connections test from a client host, or rpcinfo of the server. */
async function serve(conf: string, dir: string, client: string | undefined): Promise<{ closed: number; failed: number; rpcinfo: string }> {
  const name = basename(conf)
  const files = { log: join(dir, `${name}.log`), pid: join(dir, `${name}.pid`), rpcbind: join(dir, `${name}.rpcbind`) }
  return withLan([{ name: 'nfs', address: `${NFS}/16` }, { name: 'node', address: '10.77.0.11/16' }], async (lan: TestLan) => {
    const log = () => (existsSync(files.log) ? readFileSync(files.log, 'utf8') : '')
    const argv = ['unshare', '-m', '--propagation', 'private', 'sh', '-euc', SERVE, 'sh', conf, files.log, files.pid, files.rpcbind]
    await lan.start('nfs', argv, { pidFile: files.pid, timeoutMs: 15000, ready: () => /NFS SERVER INITIALIZED/.test(log()), diagnose: log })
    lan.track(Number(readFileSync(files.rpcbind, 'utf8')))
    if (!client) {
      const rpc = await lan.run('node', ['rpcinfo', '-p', NFS])
      return { closed: 0, failed: 0, rpcinfo: rpc.stdout }
    }
    const result = await lan.run('node', ['prlimit', `--nofile=${CLIENTS + 100}:${CLIENTS + 100}`, '--', process.execPath, client, NFS, String(CLIENTS)])
    return { ...(JSON.parse(result.stdout) as { closed: number; failed: number }), rpcinfo: '' }
  })
}

test.run()
