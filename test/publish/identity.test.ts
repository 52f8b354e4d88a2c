/** Node host keys made in-process: read by the real OpenSSH tools, one set per node, kept across publishes. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateHostKey } from '../../src/publish/hostkeys.ts'
import { localHost, type Host } from '../../src/publish/host.ts'
import { publishIdentities, stateDir } from '../../src/publish/identity.ts'
import { identityScript, sshdIdentityConf } from '../../src/netboot/identity.ts'
import { HOST_KEY_TYPES, type Node } from '../../src/recipe/types.ts'
import { exec } from '../../src/system/exec.ts'
import type { RsyncStats } from '../../src/system/rsync.ts'

let dir: string
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-identity-'))
})
test.after(async () => {
  await rm(dir, { recursive: true, force: true })
})

const nodes = (count: number): Node[] =>
  Array.from({ length: count }, (_, i) => ({ hostname: `n${i}`, mac: `dc:a6:32:02:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, model: '4B', cmdline: [], config: [] }))

for (const type of HOST_KEY_TYPES) {
  test(`a ${type} key made in-process is read by ssh-keygen, signs, and its signature checks against its .pub line`, async () => {
    for (let round = 0; round < (type === 'rsa' ? 2 : 8); round++) {
      const key = await generateHostKey(type, 'root@node1')
      const file = join(dir, `key-${type}-${round}`)
      await writeFile(file, key.privateKey, { mode: 0o600 })
      await writeFile(`${file}.pub`, key.publicKey)
      const derived = (await exec(['ssh-keygen', '-y', '-f', file])).stdout.trim()
      assert.is(`${derived}\n`, key.publicKey, 'the public key (and comment) ssh-keygen reads from the private key file is the .pub line')
      await writeFile(join(dir, 'message'), 'hello')
      await exec(['ssh-keygen', '-q', '-Y', 'sign', '-n', 'file', '-f', file, join(dir, 'message')])
      await exec(['ssh-keygen', '-Y', 'check-novalidate', '-n', 'file', '-f', `${file}.pub`, '-s', join(dir, 'message.sig')], { inputFile: join(dir, 'message') })
      await rm(join(dir, 'message.sig'))
    }
  })
}

test('sshd takes the in-process keys as host keys (sshd -t)', async () => {
  const conf = join(dir, 'sshd_config')
  const keys: string[] = []
  for (const type of HOST_KEY_TYPES) {
    const key = await generateHostKey(type, 'root@node1')
    keys.push(join(dir, `sshd-${type}`))
    await writeFile(keys.at(-1)!, key.privateKey, { mode: 0o600 })
  }
  await writeFile(conf, keys.map((key) => `HostKey ${key}\n`).join(''))
  // sshd -t wants its privilege separation folder, which only a started sshd service makes: on a
  // fresh machine this test may run before any test has started one (test/helpers/sshd.ts).
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 })
  await exec(['/usr/sbin/sshd', '-t', '-f', conf])
})

test('a fleet of 300 nodes: each node its own keys of the recipe\'s types, 0600 in 0700, its hostname; kept on the next publish', async () => {
  const out = join(dir, 'out')
  const nfs = join(dir, 'nfs/fleet')
  const fleet = nodes(300)
  const { host, sent } = countingHost()
  await publishIdentities(out, 'fleet', fleet, ['ed25519', 'ecdsa'], host, nfs, join(dir, 'staging'))
  assert.equal(sent.map((s) => s.transferred), [300 * 5], 'one transfer: every node\'s four key files and hostname')
  const seen = new Set<string>()
  for (const node of fleet) {
    const folder = join(nfs, 'nodes', node.mac.replaceAll(':', '-'))
    assert.equal((await readdir(folder)).sort(), ['hostname', 'ssh_host_ecdsa_key', 'ssh_host_ecdsa_key.pub', 'ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub'])
    assert.is(await readFile(join(folder, 'hostname'), 'utf8'), `${node.hostname}\n`)
    assert.is((await stat(folder)).mode & 0o777, 0o700)
    assert.is((await stat(join(folder, 'ssh_host_ed25519_key'))).mode & 0o777, 0o600)
    const pub = await readFile(join(folder, 'ssh_host_ed25519_key.pub'), 'utf8')
    assert.match(pub, new RegExp(`^ssh-ed25519 \\S+ root@${node.hostname}\\n$`))
    assert.not.ok(seen.has(pub), `${node.hostname} shares no key with another node`)
    seen.add(pub)
    assert.is(pub, await readFile(join(stateDir(out, 'fleet'), 'nodes', node.hostname, 'ssh_host_ed25519_key.pub'), 'utf8'), 'the published key is the one kept in the state folder')
  }
  const published = await fileIds(nfs)
  sent.length = 0
  await publishIdentities(out, 'fleet', fleet, ['ed25519', 'ecdsa'], host, nfs, join(dir, 'staging'))
  assert.equal(sent, [], 'no key changed: nothing is sent')
  assert.equal(await fileIds(nfs), published, 'and no file on the target is written again')
  const before = await readFile(join(nfs, 'nodes', macDir(fleet[7]!), 'ssh_host_ecdsa_key.pub'), 'utf8')
  await publishIdentities(out, 'fleet', fleet.slice(0, 299), ['ed25519', 'ecdsa'], host, nfs, join(dir, 'staging'))
  assert.equal(sent.map((s) => s.transferred), [0], 'a node dropped: its folder is deleted there, no file is sent')
  assert.is(await readFile(join(nfs, 'nodes', macDir(fleet[7]!), 'ssh_host_ecdsa_key.pub'), 'utf8'), before, 'a node keeps its key across publishes')
  assert.not.ok((await readdir(join(nfs, 'nodes'))).includes(macDir(fleet[299]!)), 'a node dropped from the recipe loses its folder')
  await rm(join(nfs, 'nodes', macDir(fleet[5]!)), { recursive: true })
  sent.length = 0
  await publishIdentities(out, 'fleet', fleet.slice(0, 299), ['ed25519', 'ecdsa'], host, nfs, join(dir, 'staging'))
  assert.equal(sent.map((s) => s.transferred), [5], 'only the removed folder\'s five files are sent')
  assert.is(await readFile(join(nfs, 'nodes', macDir(fleet[5]!), 'hostname'), 'utf8'), 'n5\n', 'a folder removed on the target is sent again, although nothing changed here')
  const ed25519 = await readFile(join(nfs, 'nodes', macDir(fleet[1]!), 'ssh_host_ed25519_key.pub'), 'utf8')
  await publishIdentities(out, 'fleet', fleet.slice(0, 2), ['ed25519', 'rsa'], host, nfs, join(dir, 'staging'))
  const folder = join(nfs, 'nodes', macDir(fleet[1]!))
  assert.equal((await readdir(folder)).sort(), ['hostname', 'ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub', 'ssh_host_rsa_key', 'ssh_host_rsa_key.pub'], 'an RSA key once the recipe asks for one; no key of a type it dropped')
  assert.match(await readFile(join(folder, 'ssh_host_rsa_key.pub'), 'utf8'), /^ssh-rsa \S+ root@n1\n$/)
  assert.is(await readFile(join(folder, 'ssh_host_ed25519_key.pub'), 'utf8'), ed25519, 'adding a type keeps the others')
})

test('the boot script makes only the recipe\'s key types when the server has none, and sshd is told only of those', () => {
  assert.match(identityScript(['ed25519', 'ecdsa']), /^for type in ed25519 ecdsa; do$/m)
  assert.is(sshdIdentityConf(['ed25519']).split('\n').filter((line) => line.startsWith('HostKey')).join('\n'), 'HostKey /run/pibake/ssh/ssh_host_ed25519_key')
})

/** The local host, keeping what each transfer to it said it sent. */
function countingHost(): { host: Host; sent: RsyncStats[] } {
  const local = localHost()
  const sent: RsyncStats[] = []
  const sync: Host['sync'] = async (source, dest, options) => {
    const stats = await local.sync(source, dest, options)
    sent.push(stats)
    return stats
  }
  return { host: { ...local, sync }, sent }
}

/** Each file under `root` with its inode and modification time: a file written again changes either. */
async function fileIds(root: string): Promise<Record<string, string>> {
  const ids: Record<string, string> = {}
  for (const entry of await readdir(root, { recursive: true })) {
    const info = await stat(join(root, entry))
    ids[entry] = `${info.ino} ${info.mtimeMs} ${info.ctimeMs}`
  }
  return ids
}

function macDir(node: Node): string {
  return node.mac.replaceAll(':', '-')
}

test.run()
