/**
 * `pibake rehearse` refuses, before it sends anything, a root phase from reserved ports for more
 * nodes than this machine has reserved ports for libnfs (src/rehearse/rehearse.ts): the simulated
 * nodes share one address, and past its ports every connection would try all 512 again.
 * `--ordinary-ports` (and `--nodes` at most that many) lets it go on, as does a recipe whose live
 * build has no read set (no root phase). The command runs in a namespace of the test holding only
 * `lo`, told of an interface that is not there: what comes after the check stops at that, so no
 * storm and no packet.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { libnfsReservedPorts } from '../../src/rehearse/nfs-client.ts'
import { withLoopbackNs } from '../helpers/loopback-ns.ts'

const CLI = join(import.meta.dirname, '../../src/cli.ts')
const ID = '20261207-120000-00c0ffee'
const NODES = 600
const NO_LINK = 'pbk-nolink0'
const dir = mkdtempSync(join(tmpdir(), 'pibake-rehearse-ports-'))
const out = join(dir, 'out')
test.after(() => rmSync(dir, { recursive: true, force: true }))
// The recipes' image must be there; nothing reads it.
writeFileSync(join(dir, 'raspios.img.xz'), '')

/** A recipe of NODES Pi 5s with fixed addresses; `reads`: its live build has a read set. */
function recipeFile(name: string, reads: boolean): string {
  const nodes = Array.from({ length: NODES }, (_, i) => ({ hostname: `${name}-${i}`, mac: `dc:a6:32:${name === 'big' ? '0a' : '0b'}:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, ip: `10.77.${10 + Math.floor(i / 200)}.${(i % 200) + 10}`, model: '5' }))
  const file = join(dir, `${name}.ts`)
  writeFileSync(file, `import { defineRecipe } from 'pibake'
export default defineRecipe({
  name: '${name}',
  image: { path: ${JSON.stringify(join(dir, 'raspios.img.xz'))}, sha256: '${'a'.repeat(64)}' },
  netboot: { server: '10.77.0.1', dhcp: { mode: 'range', start: '10.77.200.1', end: '10.77.200.250', netmask: '255.255.0.0' }, nfs: { server: '10.77.0.1' } },
  nodes: ${JSON.stringify(nodes)},
})
`)
  const builds = join(out, 'publish', 'nfs', name, 'builds')
  mkdirSync(join(builds, ID), { recursive: true })
  symlinkSync(`builds/${ID}`, join(out, 'publish', 'nfs', name, 'current'))
  if (reads) writeFileSync(join(builds, `${ID}.reads.json`), JSON.stringify({ version: 1, build: ID, recipe: name, until: 'multi-user: running', seconds: 40, files: [{ path: 'etc/hostname', size: 6 }] }))
  return file
}

const big = recipeFile('big', true)
const unread = recipeFile('unread', false)

async function rehearse(...args: string[]): Promise<{ exitCode: number; stderr: string }> {
  return withLoopbackNs('rehearse-ports', (ns) => ns.run([process.execPath, '--conditions=pibake-source', CLI, 'rehearse', ...args, '--interface', NO_LINK, '--out', out], { okCodes: [1, 2] }))
}

test('the reserved ports libnfs may take: 512–1023 less those /etc/services names for tcp', () => {
  const named = new Set(readFileSync('/etc/services', 'utf8').split('\n').flatMap((line) => {
    const port = /^\S+\s+(\d+)\/tcp\b/.exec(line)?.[1]
    return port && Number(port) >= 512 && Number(port) < 1024 ? [Number(port)] : []
  }))
  assert.is(libnfsReservedPorts(), 512 - named.size)
})

test('more nodes with a read set than reserved ports: refused, naming --ordinary-ports and what it needs of the NFS server', async () => {
  const ports = libnfsReservedPorts()
  const refused = await rehearse(big)
  assert.is(refused.exitCode, 2, refused.stderr)
  assert.match(refused.stderr, `pibake: up to ${NODES} simulated nodes would read their root over NFS from reserved ports, and they share one address, which has ${ports} that libnfs may take`)
  assert.match(refused.stderr, /hint: --ordinary-ports connects from ordinary ports: nfs-ganesha accepts them; a kernel NFS server's exports are "secure" and refuse them unless they say "insecure"/)
  assert.match(refused.stderr, `(--nodes ${ports})`)
  const over = await rehearse(big, '--nodes', String(ports + 1))
  assert.match(over.stderr, `pibake: up to ${ports + 1} simulated nodes would read their root`, 'one node past the ports')
})

test('--ordinary-ports, --nodes within the ports, or no read set: the rehearsal goes on (to the missing interface)', async () => {
  const ports = libnfsReservedPorts()
  for (const args of [[big, '--ordinary-ports'], [big, '--nodes', String(ports)], [unread]]) {
    const run = await rehearse(...args)
    assert.is(run.exitCode, 2, run.stderr)
    assert.match(run.stderr, `pibake: there is no interface "${NO_LINK}" on this machine`, args.join(' '))
    assert.not.match(run.stderr, 'reserved ports', args.join(' '))
  }
})

test.run()
