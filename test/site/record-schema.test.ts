/**
 * Site records are read back from `<config>/pibake/`, which other people and machines can write: a
 * record is refused whole, naming its file and field, unless every field is what pibake writes. The
 * records pibake itself writes (from real recipes) go through the same check and come back equal.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError } from '../../src/errors.ts'
import { newBuildId } from '../../src/publish/builds.ts'
import { loadRecipe } from '../../src/recipe/load.ts'
import { recordFor, recordFile, withLive, type SiteRecord } from '../../src/site/record.ts'
import { parseSiteRecord } from '../../src/site/record-schema.ts'
import { openSite, readRecord, readSite, writeRecord } from '../../src/site/store.ts'

const fixtures = join(import.meta.dirname, '../recipe/fixtures/valid')
const HOSTILE_USER = '-oProxyCommand=touch${IFS}/tmp/pwned;'

let dir: string
const site = () => openSite({ kind: 'local', path: dir })

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-record-'))
})
test.after.each(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A record as pibake writes it for the recipe `file` (its first target), with two builds published a day apart. */
async function written(file: string, target = 0): Promise<SiteRecord> {
  const recipe = await loadRecipe(join(fixtures, file), { outDir: '/var/tmp/pibake-out' })
  const where = { nfs: recipe.publish[target]!.nfs, tftp: recipe.publish[target]!.tftp }
  const first = new Date(Date.UTC(2026, 10, 24, 17, 42, 33))
  const second = new Date(first.getTime() + 24 * 3600 * 1000)
  const record = recordFor(recipe, where, recipe.publish[target]!.keep, undefined, first)
  return withLive(withLive(record, newBuildId('1a2b3c4d5e', first), first, 123456), newBuildId('9f8e7d6c5b', second), second, undefined, { largestFile: 8192, bytesPerNode: 18_731 })
}

/** Writes `value` as the record of `recipe`, as someone with write access to the folder would. */
async function plant(recipe: string, value: unknown): Promise<void> {
  await mkdir(join(dir, 'pibake'), { recursive: true })
  await writeFile(recordFile(dir, recipe), JSON.stringify(value, null, 2))
}

async function refusal(read: () => Promise<unknown>): Promise<string> {
  try {
    await read()
  } catch (error) {
    assert.instance(error, PibakeError)
    return (error as PibakeError).message
  }
  throw new assert.Assertion({ message: 'the record was accepted', operator: 'refusal', expects: 'an error', actual: 'none' })
}

test('every record pibake writes (local and SSH destinations, proxy and range DHCP) reads back equal', async () => {
  const records = [await written('full.ts', 0), await written('full.ts', 1), await written('minimal.ts')]
  assert.equal(records[0]!.where.nfs.kind, 'ssh', 'the full recipe reaches its NFS server over SSH, with an identity')
  assert.equal(records[1]!.where.tftp.kind, 'ssh', 'and its second target its boot server, with the default known_hosts')
  for (const record of records) {
    await writeRecord(site(), record)
    assert.equal(await readRecord(site(), record.recipe), record)
    assert.equal(parseSiteRecord(JSON.parse(JSON.stringify(record)), record.recipe), { record })
  }
})

test('a record written before rootSquash existed still reads, with the default it had', async () => {
  const record = await written('minimal.ts')
  const shared = { path: '/srv/shared', mount: '/shared', accounts: true }
  await plant('minimal', { ...record, netboot: { ...record.netboot, shared } })
  assert.equal((await readRecord(site(), 'minimal'))!.netboot.shared, { ...shared, rootSquash: false })
})

test('a planted record whose SSH user is an ssh option is refused by readSite, naming the file and the field', async () => {
  const record = await written('full.ts', 0)
  await plant('classroom-3', { ...record, where: { ...record.where, nfs: { ...record.where.nfs, user: HOSTILE_USER } } })
  const message = await refusal(() => readSite(site()))
  assert.match(message, `the site record ${recordFile(dir, 'classroom-3')} is damaged: where.nfs.user: ${JSON.stringify(HOSTILE_USER)} starts with "-"`)
  assert.not.ok(existsSync('/tmp/pwned'))
})

test('a planted record whose build id climbs out of the builds folder is refused, naming the build', async () => {
  const record = await written('minimal.ts')
  const [old, live] = record.builds
  await plant('minimal', { ...record, builds: [{ ...old, id: '../../x' }, live] })
  assert.match(await refusal(() => readRecord(site(), 'minimal')), 'is damaged: builds[0].id: "../../x" is not a build id (like 20261125-174233-1a2b3c4d)')
  await plant('minimal', { ...record, live: '../../../../../etc' })
  assert.match(await refusal(() => readRecord(site(), 'minimal')), 'live: "../../../../../etc" is not a build id')
})

// One planted change each, and the field the refusal must name.
const damages: [string, (r: SiteRecord) => unknown, string][] = [
  ['recipe of another file', (r) => ({ ...r, recipe: 'other' }), 'recipe: "other" is not the recipe the file is named for ("minimal")'],
  ['live build not among the builds', (r) => ({ ...r, live: '20990101-000000-00000000' }), 'live: "20990101-000000-00000000" is not one of the record\'s builds'],
  ['a build twice', (r) => ({ ...r, builds: [...r.builds, r.builds[0]] }), 'builds[2].id: "20261124-174233-1a2b3c4d" is listed twice'],
  ['host that is an option', (r) => ({ ...r, where: { ...r.where, tftp: { kind: 'ssh', user: 'root', host: '-oProxyCommand=x', port: 22, path: '/srv/tftp', knownHosts: '/root/.ssh/known_hosts' } } }), 'where.tftp.host: "-oProxyCommand=x" starts with "-"'],
  ['user with a space', (r) => ({ ...r, where: { ...r.where, tftp: { kind: 'ssh', user: 'a b', host: 'pxe1', port: 22, path: '/srv/tftp', knownHosts: '/root/.ssh/known_hosts' } } }), 'where.tftp.user: "a b" is not a user name'],
  ['port out of range', (r) => ({ ...r, where: { ...r.where, tftp: { kind: 'ssh', user: 'root', host: 'pxe1', port: 0, path: '/srv/tftp', knownHosts: '/root/.ssh/known_hosts' } } }), 'where.tftp.port: must be a TCP port'],
  ['relative tree path', (r) => ({ ...r, where: { ...r.where, nfs: { kind: 'local', path: 'srv/nfs' } } }), 'where.nfs.path: "srv/nfs" is not an absolute path'],
  ['unknown destination kind', (r) => ({ ...r, where: { ...r.where, nfs: { kind: 'ftp', path: '/srv' } } }), 'where.nfs.kind: must be "local" or "ssh"'],
  ['recipe file with a line break', (r) => ({ ...r, file: '/x.ts\nport=53' }), 'file: "/x.ts\\nport=53" is not an absolute path without control characters'],
  ['log file with a space', (r) => ({ ...r, netboot: { ...r.netboot, log: '/var/log/a b' } }), 'netboot.log: "/var/log/a b" is not an absolute path without white space'],
  ['interface with a comma', (r) => ({ ...r, netboot: { ...r.netboot, interface: 'eth0,lo' } }), 'netboot.interface: "eth0,lo" is not a network interface name'],
  ['server not an address', (r) => ({ ...r, netboot: { ...r.netboot, server: '10.0.0.1\ndhcp-script=/x' } }), 'netboot.server: "10.0.0.1\\ndhcp-script=/x" is not an IPv4 address'],
  ['node MAC not as pibake writes it', (r) => ({ ...r, nodes: [{ ...r.nodes[0], mac: '../../etc' }] }), 'nodes[0].mac: "../../etc" is not a MAC address'],
  ['node host name', (r) => ({ ...r, nodes: [{ ...r.nodes[0], hostname: 'a b' }] }), 'nodes[0].hostname: "a b" is not a valid host name'],
  ['node model', (r) => ({ ...r, nodes: [{ ...r.nodes[0], model: 'Zero 2 W' }] }), 'nodes[0].model: a Raspberry Pi Zero 2 W cannot boot from the network'],
  ['build time', (r) => ({ ...r, builds: [{ ...r.builds[0], created: 'yesterday' }, r.builds[1]] }), 'builds[0].created: "yesterday" is not a time'],
  ['boot bytes below one', (r) => ({ ...r, boot: { largestFile: -1, bytesPerNode: 10 } }), 'boot.largestFile: must be 1 byte to 1 TiB'],
  ['boot bytes as text', (r) => ({ ...r, boot: { largestFile: 8192, bytesPerNode: '1e9' } }), 'boot.bytesPerNode: must be a number of bytes'],
  ['boot with a field pibake never writes', (r) => ({ ...r, boot: { largestFile: 8192, bytesPerNode: 10, script: '/x' } }), 'boot.script: unknown field'],
  ['boot link of no speed', (r) => ({ ...r, netboot: { ...r.netboot, bootLinkMbps: 0 } }), 'netboot.bootLinkMbps: must be 10 to 800000 Mbit/s'],
  ['unknown field', (r) => ({ ...r, command: 'rm -rf /' }), 'command: unknown field'],
  ['keep nothing', (r) => ({ ...r, keep: { builds: 0, days: 7 } }), 'keep.builds: must keep at least the live build (1)'],
  ['another format', (r) => ({ ...r, format: 2 }), 'format: must be 1, not 2'],
]

for (const [what, damage, expected] of damages) {
  test(`refused: ${what}`, async () => {
    await plant('minimal', damage(await written('minimal.ts')))
    assert.match(await refusal(() => readRecord(site(), 'minimal')), `${recordFile(dir, 'minimal')} is damaged: ${expected}`)
  })
}

test('a file whose name is not a recipe name is refused, not joined into a path', async () => {
  await plant('minimal', await written('minimal.ts'))
  await writeFile(join(dir, 'pibake', 'Not A Name.json'), '{}')
  assert.match(await refusal(() => readSite(site())), '"Not A Name" is not a recipe name')
  assert.match(await refusal(() => readRecord(site(), '../../etc/passwd')), '"../../etc/passwd" is not a recipe name')
})

test('pibake refuses to write a record it would refuse to read: nothing is written', async () => {
  const record = await written('full.ts', 0)
  const hostile = { ...record, where: { ...record.where, nfs: { ...record.where.nfs, user: HOSTILE_USER } } } as SiteRecord
  assert.match(await refusal(() => writeRecord(site(), hostile)), `the site record of "classroom-3" would not be readable: where.nfs.user: ${JSON.stringify(HOSTILE_USER)} starts with "-"`)
  assert.equal(await readdir(dir), [])
})

test.run()
