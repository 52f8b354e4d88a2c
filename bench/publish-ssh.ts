/**
 * Publishing the demo build over SSH against publishing it locally, in the same run: the demo
 * image's cluster-node recipe baked once, then published (1) to local folders, (2) over SSH to an
 * "nfs" and a "pxe" host (real sshd, each in a network namespace of a LAN this process joins),
 * each cold (empty target) and again unchanged, and (3) over SSH after one overlay file changed.
 *
 *   node bench/publish-ssh.ts [--rounds N]
 *
 * Prints each run, then the median seconds of each kind and its ratio to the local one, as a table
 * and as JSON. Times are whole `build()` calls (every stage before publish is cached).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { build } from '../src/build.ts'
import { clean } from '../src/clean.ts'
import { buildDemoImage } from '../src/demo/build.ts'
import type { PublishTargetInput, RecipeInput } from '../src/recipe/types.ts'
import { validateRecipe } from '../src/recipe/validate.ts'
import { exec } from '../src/system/exec.ts'
import { TestLan } from '../test/helpers/netns.ts'
import { startSshd } from '../test/helpers/sshd.ts'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } })
const rounds = Number(values.rounds)
const image = await buildDemoImage({ arch: 'arm64', outDir: join(import.meta.dirname, '../out/demo') })
const dir = await mkdtemp(join(tmpdir(), 'pibake-bench-ssh-'))
await chmod(dir, 0o755)
const out = join(dir, 'out')
const overlay = join(dir, 'overlay')
await mkdir(join(overlay, 'rootfs/etc'), { recursive: true })
const key = join(dir, 'id')
await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key])
const lan = new TestLan()
const times: Record<string, number[]> = {}

function recipe(publish: PublishTargetInput, nfsPath: string) {
  const input: RecipeInput = {
    name: 'cluster-node',
    image: { path: image.xz, sha256: image.sha256File, arch: 'arm64' },
    overlays: [overlay],
    netboot: { server: '10.42.0.1', dhcp: { mode: 'range', start: '10.42.0.100', end: '10.42.0.199' }, nfs: { server: '10.42.0.1', path: nfsPath } },
    nodes: [1, 2, 3, 4].map((n) => ({ hostname: `node${n}`, mac: `dc:a6:32:00:00:0${n}`, ip: `10.42.0.1${n}`, model: '4B' as const })),
    publish: [publish],
  }
  return validateRecipe(input, join(dir, 'recipe.ts'), { outDir: out })
}

async function timed(kind: string, publish: PublishTargetInput, nfsPath: string): Promise<void> {
  const started = performance.now()
  await build(recipe(publish, nfsPath), { outDir: out })
  const seconds = (performance.now() - started) / 1000
  ;(times[kind] ??= []).push(seconds)
  console.log(`${kind.padEnd(24)} ${seconds.toFixed(1)} s`)
}

try {
  await lan.setup([{ name: 'nfs', address: '10.79.0.2/24' }, { name: 'pxe', address: '10.79.0.3/24' }])
  await lan.attachHere('10.79.0.254/24')
  const authorizedKey = readFileSync(`${key}.pub`, 'utf8')
  const nfs = await startSshd(lan, { host: 'nfs', address: '10.79.0.2', dir: join(dir, 'sshd-nfs'), authorizedKey })
  const pxe = await startSshd(lan, { host: 'pxe', address: '10.79.0.3', dir: join(dir, 'sshd-pxe'), authorizedKey })
  const knownHosts = join(dir, 'known_hosts')
  writeFileSync(knownHosts, `${nfs.knownHostsLine}\n${pxe.knownHostsLine}\n`)
  const ssh = (host: string, path: string) => ({ host: `root@${host}`, path, identity: key, knownHosts })
  await writeFile(join(overlay, 'rootfs/etc/motd'), 'bench\n')
  await build(recipe({ nfs: join(dir, 'warm/nfs'), tftp: join(dir, 'warm/tftp'), config: join(dir, 'warm') }, join(dir, 'warm/nfs')), { outDir: out })
  for (let round = 0; round < rounds; round++) {
    const local = join(dir, `local-${round}`)
    const remote = join(dir, `remote-${round}`)
    const localTarget = { nfs: join(local, 'nfs'), tftp: join(local, 'tftp'), config: local }
    const sshTarget = { nfs: ssh('10.79.0.2', join(remote, 'nfs')), tftp: ssh('10.79.0.3', join(remote, 'tftp')), config: ssh('10.79.0.3', join(remote, 'etc')) }
    await timed('local, cold', localTarget, join(local, 'nfs'))
    await timed('local, unchanged', localTarget, join(local, 'nfs'))
    await timed('ssh, cold', sshTarget, join(remote, 'nfs'))
    await timed('ssh, unchanged', sshTarget, join(remote, 'nfs'))
    await writeFile(join(overlay, 'rootfs/etc/motd'), `bench round ${round}\n`)
    await timed('ssh, one file changed', sshTarget, join(remote, 'nfs'))
    await writeFile(join(overlay, 'rootfs/etc/motd'), 'bench\n')
    await rm(local, { recursive: true, force: true })
    await rm(remote, { recursive: true, force: true })
  }
} finally {
  await lan.close()
  await clean(out)
  await rm(dir, { recursive: true, force: true })
}

const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!
const base = median(times['local, cold']!)
console.log('\nkind                      median   ÷ local cold')
const rows = Object.entries(times).map(([kind, list]) => ({ kind, median: median(list), ratio: median(list) / base }))
for (const row of rows) console.log(`${row.kind.padEnd(24)} ${row.median.toFixed(1).padStart(6)} s ${row.ratio.toFixed(2).padStart(8)}`)
console.log(JSON.stringify({ rounds, rows }))
