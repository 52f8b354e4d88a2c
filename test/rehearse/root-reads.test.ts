/**
 * A build's root read set, read back from an NFS server's disk (hostile): each way out of the build
 * refused, with the file and the entry named; the recording's mapping of ganesha's reads (fatrace's
 * lines) to paths in the build and the node's identity folder; a node's command line read as the
 * root phase reads it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadReadSet, parseReadSet } from '../../src/rehearse/reads.ts'
import { rootMount } from '../../src/rehearse/root-phase.ts'
import { parseFatrace } from '../../src/system/fatrace.ts'
import { readSet } from '../../src/try/reads.ts'

const ID = '20261201-101010-0123abcd'
const dir = mkdtempSync(join(tmpdir(), 'pibake-root-reads-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

function set(files: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ version: 1, build: ID, recipe: 'fleet', until: 'multi-user: running', seconds: 40, files, ...extra })
}

test('a read set as recorded is read back whole, identity entries included', async () => {
  const file = join(dir, `${ID}.reads.json`)
  writeFileSync(file, set([{ path: 'usr/lib/systemd/systemd', size: 100 }, { path: 'nodes/<mac>/hostname', size: 6 }]))
  const read = await loadReadSet(file, ID)
  assert.equal(read.files.map((f) => f.path), ['usr/lib/systemd/systemd', 'nodes/<mac>/hostname'])
})

for (const [name, path, why] of [
  ['parent-folder', '../other-build/etc/shadow', /"\.\." part: it could leave the build/],
  ['deep-parent-folder', 'usr/../../x', /"\.\." part/],
  ['absolute', '/etc/shadow', /absolute/],
  ['empty-part', 'usr//lib', /empty/],
  ['nul', 'usr/lib\u0000x', /NUL/],
  ['another-mac', 'nodes/<ma>/../x', /"\.\." part/],
  ['placeholder-elsewhere', 'usr/<mac>/x', /only nodes\/<mac>\/… may hold/],
  ['not-a-string', 7, /not a string/],
] as const) {
  test(`a hostile read set is refused: ${name}`, () => {
    const error = (() => {
      try {
        parseReadSet(set([{ path: 'etc/hostname', size: 1 }, { path, size: 1 }]), 'srv:/nfs/fleet/builds/x.reads.json')
      } catch (e) {
        return e as Error
      }
    })()
    assert.ok(error, 'refused')
    assert.match(error.message, 'srv:/nfs/fleet/builds/x.reads.json is not a read set pibake writes: files[1].path')
    assert.match(error.message, why)
  })
}

test('a read set of another build, a bad size, a bad build id or an unknown version is refused', () => {
  assert.throws(() => parseReadSet(set([]), 'f', '20261201-101010-ffffffff'), /it is the read set of build 20261201-101010-0123abcd, not of 20261201-101010-ffffffff/)
  assert.throws(() => parseReadSet(set([{ path: 'a', size: -1 }]), 'f'), /files\[0\]\.size is not a size/)
  assert.throws(() => parseReadSet(set([], { build: '../../x' }), 'f'), /is not a build id/)
  assert.throws(() => parseReadSet(set([], { version: 2 }), 'f'), /version 2, not 1/)
  assert.throws(() => parseReadSet('{', 'f'), /not JSON/)
})

test("the recording keeps ganesha's reads of the build and of this node's folder, first read first, nothing else", () => {
  const recipeDir = join(dir, 'nfs', 'fleet')
  const build = join(recipeDir, 'builds', ID)
  const own = join(recipeDir, 'nodes', 'dc-a6-32-00-00-01')
  const other = join(recipeDir, 'nodes', 'dc-a6-32-00-00-02')
  for (const folder of [join(build, 'usr/lib'), own, other]) mkdirSync(folder, { recursive: true })
  writeFileSync(join(build, 'usr/lib/libc.so.6'), Buffer.alloc(1000))
  writeFileSync(join(build, 'init'), Buffer.alloc(10))
  writeFileSync(join(own, 'hostname'), 'node1\n')
  writeFileSync(join(other, 'hostname'), 'node2\n')
  const log = [
    // Another ganesha (another test's, another try's) reading the same tree: not this boot's.
    `ganesha.nfsd(77): R   ${build}/usr/lib/libc.so.6`,
    `ganesha.nfsd(42): O   ${build}/init`,
    `ganesha.nfsd(42): R   ${build}/init`,
    `ganesha.nfsd(42): RO  ${build}/usr/lib`,
    `ganesha.nfsd(42): R   ${build}/usr/lib/libc.so.6`,
    `ganesha.nfsd(42): R   ${build}/init`,
    `ganesha.nfsd(42): R   ${own}/hostname`,
    `ganesha.nfsd(42): R   ${other}/hostname`,
    `ganesha.nfsd(42): R   ${recipeDir}/builds/${ID}.squashfs`,
    'ganesha.nfsd(42): O   [fd 3 device 8:1 inode 77]',
  ].join('\n')
  const files = readSet(parseFatrace(log), { recipeDir, build: ID, mac: 'dc:a6:32:00:00:01', serverPid: 42 })
  assert.equal(files, [{ path: 'init', size: 10 }, { path: 'usr/lib/libc.so.6', size: 1000 }, { path: 'nodes/<mac>/hostname', size: 6 }])
})

test("a node's command line: its nfsroot, its build, its image for an image root; a hostile one refused", () => {
  assert.equal(rootMount(`console=serial0 root=/dev/nfs nfsroot=10.42.0.1:/srv/nfs/fleet/builds/${ID},vers=3 ip=dhcp ro`), { server: '10.42.0.1', path: `/srv/nfs/fleet/builds/${ID}`, build: ID, mode: 'nfs' })
  assert.equal(rootMount(`nfsroot=10.42.0.1:/srv/fleet/builds/${ID},vers=3 pibake.root=ram pibake.image=10.42.0.2:/srv/fleet/builds/${ID}.squashfs`), { server: '10.42.0.1', path: `/srv/fleet/builds/${ID}`, build: ID, mode: 'ram', image: { server: '10.42.0.2', path: `/srv/fleet/builds/${ID}.squashfs` } })
  assert.match(rootMount('root=/dev/mmcblk0p2') as string, /no nfsroot=/)
  assert.match(rootMount(`nfsroot=10.42.0.1:/srv/fleet/builds/../../etc,vers=3`) as string, /not an absolute path inside the export/)
  assert.match(rootMount(`nfsroot=/srv/fleet/builds/${ID}`) as string, /no server address/)
  assert.match(rootMount(`nfsroot=10.42.0.1:/srv/fleet/builds/${ID} pibake.root=squashfs`) as string, /without pibake\.image=/)
})

test.run()
