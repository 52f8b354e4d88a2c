/**
 * Valid recipes load into their resolved form: absolute paths, normalised MACs and serials, the
 * checksum read from its file, and every default applied.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { RecipeError } from '../../src/errors.ts'
import { loadRecipe } from '../../src/recipe/load.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'
import type { Recipe } from '../../src/recipe/types.ts'
import base from './fixtures/valid/minimal.ts'

const fixtures = join(import.meta.dirname, 'fixtures')
const valid = join(fixtures, 'valid')
const TINY_SHA256 = 'c17dba8c09bdf2a3613417782254bc32b8af391a6c9bc4af2145d0da3b4faeff'

test('a minimal recipe gets every default: publish under outDir, netmask, NFS path, config beside tftp', async () => {
  const recipe = await loadRecipe(join(valid, 'minimal.ts'), { outDir: '/var/tmp/pibake-out' })
  const expected: Recipe = {
    file: join(valid, 'minimal.ts'),
    name: 'minimal',
    image: { path: join(fixtures, 'tiny.img'), sha256: TINY_SHA256 },
    overlays: [],
    customize: [],
    netboot: {
      server: '192.168.1.1',
      dhcp: { mode: 'range', start: '192.168.1.100', end: '192.168.1.199', netmask: '255.255.255.0', dns: [] },
      nfs: { server: '192.168.1.2', path: '/var/tmp/pibake-out/publish/nfs' },
      hostKeys: ['ed25519', 'ecdsa'],
    },
    nodes: [{ hostname: 'node1', mac: 'dc:a6:32:01:02:03', ip: '192.168.1.21', model: '4B', cmdline: [], config: [] }],
    publish: [
      {
        nfs: { kind: 'local', path: '/var/tmp/pibake-out/publish/nfs' },
        tftp: { kind: 'local', path: '/var/tmp/pibake-out/publish/tftp' },
        config: { kind: 'local', path: '/var/tmp/pibake-out/publish' },
        keep: { builds: 3, days: 7 },
        reload: {},
      },
    ],
  }
  assert.equal(recipe, expected)
})

test('every field given (a proxy-mode node without an address too): SSH targets split user@host, relative folders resolve from the recipe, serials lower case', async () => {
  const recipe = await loadRecipe(join(valid, 'full.ts'))
  const expected: Recipe = {
    file: join(valid, 'full.ts'),
    name: 'classroom-3',
    image: { path: join(fixtures, 'tiny.img'), sha256: TINY_SHA256, arch: 'arm64' },
    overlays: [join(fixtures, 'overlay')],
    customize: [],
    netboot: {
      server: '10.42.0.1',
      dhcp: { mode: 'proxy', network: '10.42.0.0' },
      nfs: { server: 'nfs.lab.example', path: '/export/pibake' },
      interface: 'enp3s0',
      hostKeys: ['ed25519', 'rsa'],
    },
    nodes: [
      { hostname: 'desk-01', mac: 'dc:a6:32:0a:0b:0c', serial: '10000000abcdef01', ip: '10.42.0.11', model: '4B', cmdline: ['quiet'], config: ['dtparam=audio=off'] },
      { hostname: 'desk-02', mac: 'd8:3a:dd:00:00:02', serial: 'a1b2c3d4', ip: '10.42.0.12', model: '5', cmdline: [], config: [] },
      { hostname: 'desk-03', mac: 'b8:27:eb:00:00:03', ip: '10.42.0.13', model: '3B', cmdline: [], config: [] },
      { hostname: 'desk-04', mac: '2c:cf:67:00:00:04', model: '5', cmdline: [], config: [] },
    ],
    publish: [
      {
        nfs: { kind: 'ssh', user: 'admin', host: 'nfs.lab.example', port: 2222, path: '/export/pibake', identity: join(fixtures, 'fake-ssh-identity'), knownHosts: join(fixtures, 'known_hosts') },
        tftp: { kind: 'local', path: join(valid, 'publish/tftp') },
        config: { kind: 'local', path: join(valid, 'publish/tftp-site') },
        formerConfig: { kind: 'local', path: join(valid, 'publish/tftp') },
        keep: { builds: 3, days: 7 },
        reload: { dnsmasq: 'systemctl reload dnsmasq' },
      },
      {
        nfs: { kind: 'local', path: join(valid, 'mirror/nfs') },
        tftp: { kind: 'ssh', user: 'root', host: 'tftp.lab.example', port: 22, path: '/srv/tftp', knownHosts: join(homedir(), '.ssh/known_hosts') },
        config: { kind: 'local', path: join(valid, 'mirror/config') },
        keep: { builds: 5, days: 14 },
        reload: {},
      },
    ],
  }
  assert.equal(recipe, expected)
})

test('outDir defaults to out/ in the current directory', async () => {
  const recipe = await loadRecipe(join(valid, 'minimal.ts'))
  assert.is(recipe.netboot.nfs.path, join(process.cwd(), 'out/publish/nfs'))
  assert.equal(recipe.publish[0]?.config, { kind: 'local', path: join(process.cwd(), 'out/publish') })
})

test('config left out: the folder beside the TFTP root, on the same host, never the TFTP root itself', () => {
  const target = (tftp: unknown) => validateRecipe({ ...base, publish: [{ nfs: '/srv/nfs', tftp }] }, join(valid, 'inline.ts')).publish[0]!
  const ssh = { host: 'admin@pxe1', path: '/srv/tftp/', port: 2222 }
  const remote = target(ssh)
  assert.equal(remote.config, { ...remote.tftp, path: '/srv/tftp-site' })
  assert.equal(remote.formerConfig, remote.tftp)
  assert.equal(target('/srv/tftp').config, { kind: 'local', path: '/srv/tftp-site' })
  assert.throws(() => target('/'), /publish\[0\]\.config: required when tftp is \//)
  const given = validateRecipe({ ...base, publish: [{ nfs: '/srv/nfs', tftp: '/srv/tftp', config: '/etc/pibake' }] }, join(valid, 'inline.ts')).publish[0]!
  assert.equal([given.config, given.formerConfig], [{ kind: 'local', path: '/etc/pibake' }, undefined])
})

test('the NFS path defaults to the first target\'s nfs path, also when that target is over SSH', () => {
  const recipe = validateRecipe({ ...base, publish: [{ nfs: { host: 'nfs', path: '/export/lab' }, tftp: '/srv/tftp' }] }, join(valid, 'inline.ts'))
  assert.is(recipe.netboot.nfs.path, '/export/lab')
})

test('a checksum file with several entries gives the one that names the image', () => {
  const recipe = validateRecipe({ ...base, image: { path: '../tiny.img', sha256: '../SHA256SUMS' } }, join(valid, 'inline.ts'))
  assert.is(recipe.image.sha256, TINY_SHA256)
})

test('a checksum file that lists other files only is refused, naming the image it lacks', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'pibake-recipe-'))
  const sums = join(scratch, 'SHA256SUMS')
  writeFileSync(sums, `${'a'.repeat(64)}  one.img.xz\n${'b'.repeat(64)}  two.img.xz\n`)
  try {
    validateRecipe({ ...base, image: { path: '../tiny.img', sha256: sums } }, join(valid, 'inline.ts'))
    assert.unreachable()
  } catch (error) {
    assert.instance(error, RecipeError)
    assert.equal((error as RecipeError).problems, [`image.sha256: ${sums} lists no SHA-256 for tiny.img`])
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
})

test('relative paths start from the recipe file\'s folder, not from the current directory', () => {
  const recipe = validateRecipe({ ...base, image: { path: 'tiny.img', sha256: TINY_SHA256 } }, join(fixtures, 'at-fixtures-root.ts'))
  assert.is(recipe.image.path, join(fixtures, 'tiny.img'))
  assert.is(recipe.file, join(fixtures, 'at-fixtures-root.ts'))
})

test('the range options keep router and dns when given', () => {
  const dhcp = { mode: 'range', start: '10.0.0.100', end: '10.0.0.200', netmask: '255.255.0.0', router: '10.0.0.1', dns: ['1.1.1.1', '9.9.9.9'] }
  const recipe = validateRecipe({ ...base, netboot: { ...base.netboot, server: '10.0.0.1', dhcp }, nodes: [{ ...base.nodes[0], ip: '10.0.5.5' }] }, join(valid, 'inline.ts'))
  assert.equal(recipe.netboot.dhcp, dhcp)
})

test('a root tarball with a boot tarball: both resolved, each with its sha256', () => {
  const sha = (c: string) => c.repeat(64)
  const recipe = validateRecipe({ ...base, image: { path: '../root.tar', sha256: sha('a'), boot: { path: '../boot.tar', sha256: sha('B') } } }, join(valid, 'inline.ts'))
  assert.equal(recipe.image, { path: join(fixtures, 'root.tar'), sha256: sha('a'), boot: { path: join(fixtures, 'boot.tar'), sha256: sha('b') } })
})

test.run()
