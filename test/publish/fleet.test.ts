/**
 * A fleet of 994 nodes through the whole pipeline (the tiny image): every node gets its own TFTP
 * folder of its build, hard-linked to the build's boot files, with its own cmdline.txt; its own
 * host keys and hostname; its place in dnsmasq.conf, exports and hosts. A rebuild keeps every key.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, readdir, readFile, readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import { macDir } from '../../src/netboot/layout.ts'
import type { NodeInput, Recipe } from '../../src/recipe/types.ts'
import { makeProject, type Project } from '../helpers/project.ts'

const COUNT = 994
let project: Project
let recipe: Recipe

function fleet(): NodeInput[] {
  const models = ['4B', '400', 'CM4', '5'] as const
  return Array.from({ length: COUNT }, (_, i) => ({
    hostname: `n${String(i).padStart(4, '0')}`,
    mac: `dc:a6:32:03:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
    ip: `10.99.${(10 + i) >> 8}.${(10 + i) & 0xff}`,
    model: models[i % models.length]!,
    ...(i % 7 === 0 ? { cmdline: [`pibake.node=${i}`] } : {}),
  }))
}

test.before(async () => {
  project = await makeProject()
  await project.write('etc/motd', 'fleet\n')
  recipe = project.recipe((r) => {
    r.netboot = { server: '10.99.0.1', dhcp: { mode: 'range', start: '10.99.7.100', end: '10.99.7.200', netmask: '255.255.248.0' }, nfs: { server: '10.99.0.2' } }
    r.nodes = fleet()
  })
  await build(recipe, { outDir: project.out })
})
test.after(async () => {
  await project.remove()
})

const tftp = () => join(project.out, 'publish/tftp')
const nfs = () => join(project.out, 'publish/nfs/test-node')

test('every node boots its own TFTP folder of the new build, whose files are the build\'s own boot files, hard-linked', async () => {
  const id = (await readlink(join(nfs(), 'current'))).split('/')[1]!
  const build = join(tftp(), 'builds/test-node', id)
  const common = await readdir(join(build, 'common'))
  const kernel = (await lstat(join(build, 'common/kernel8.img'))).ino
  for (const node of recipe.nodes) {
    const name = macDir(node.mac)
    assert.is(await readlink(join(tftp(), name)), `builds/test-node/${id}/${name}`, `${node.hostname}'s link`)
    assert.equal((await readdir(join(build, name))).sort(), [...common].sort(), `${node.hostname} has every boot file`)
    assert.is((await lstat(join(build, name, 'kernel8.img'))).ino, kernel, `${node.hostname}'s kernel is the build's, hard-linked`)
    const cmdline = await readFile(join(build, name, 'cmdline.txt'), 'utf8')
    assert.match(cmdline, `nfsroot=10.99.0.2:${join(project.out, 'publish/nfs')}/test-node/builds/${id},vers=3`)
    assert.is(cmdline.includes('pibake.node='), node.cmdline.length > 0, `${node.hostname}'s own kernel arguments, and no other node's`)
    if (node.cmdline.length) assert.match(cmdline, `${node.cmdline[0]!}\n`)
  }
})

test('every node has its own host keys and hostname, and the server configuration lists the whole fleet', async () => {
  const keys = new Set<string>()
  for (const node of recipe.nodes) {
    const dir = join(nfs(), 'nodes', macDir(node.mac))
    assert.is(await readFile(join(dir, 'hostname'), 'utf8'), `${node.hostname}\n`)
    const key = await readFile(join(dir, 'ssh_host_ed25519_key.pub'), 'utf8')
    assert.match(key, ` root@${node.hostname}\n`)
    keys.add(key)
    assert.match(await readFile(join(dir, 'ssh_host_ecdsa_key.pub'), 'utf8'), /^ecdsa-sha2-nistp256 /)
  }
  assert.is(keys.size, COUNT, 'no two nodes share a key')
  const dnsmasq = await readFile(join(project.out, 'publish/dnsmasq.conf'), 'utf8')
  const exports = await readFile(join(project.out, 'publish/exports'), 'utf8')
  const hosts = await readFile(join(project.out, 'publish/hosts'), 'utf8')
  for (const node of recipe.nodes) {
    assert.match(dnsmasq, `dhcp-host=${node.mac},`)
    assert.match(exports, `/nodes/${macDir(node.mac)} ${node.ip}(`)
    assert.match(hosts, new RegExp(`^${node.ip!.replaceAll('.', '\\.')}\\s+${node.hostname}\\b`, 'm'))
  }
})

test('a rebuild after one overlay change switches every node to the new build and keeps every key', async () => {
  const before = await identities()
  assert.is(Object.keys(before).length, COUNT * (1 + 2 * recipe.netboot.hostKeys.length), 'each node: a key pair of each of the recipe\'s types, and its hostname')
  const first = await readlink(join(nfs(), 'current'))
  await project.write('etc/motd', 'fleet, again\n')
  await build(recipe, { outDir: project.out })
  const id = (await readlink(join(nfs(), 'current'))).split('/')[1]!
  assert.is.not(`builds/${id}`, first)
  for (const node of recipe.nodes) assert.is(await readlink(join(tftp(), macDir(node.mac))), `builds/test-node/${id}/${macDir(node.mac)}`)
  const after = await identities()
  assert.equal(Object.keys(after).sort(), Object.keys(before).sort(), 'the same files')
  assert.equal(Object.keys(before).filter((file) => after[file] !== before[file]), [], 'every node keeps every key, private and public, of every type')
})

/** Every node's published identity files (its keys of every type, private and public; its hostname) by `<mac>/<name>`. */
async function identities(): Promise<Record<string, string>> {
  const files: Record<string, string> = {}
  for (const node of recipe.nodes) {
    const dir = join(nfs(), 'nodes', macDir(node.mac))
    for (const name of await readdir(dir)) files[`${macDir(node.mac)}/${name}`] = await readFile(join(dir, name), 'utf8')
  }
  return files
}

test.run()
