/**
 * The image's file order (roots/order.ts): the recipe's newest read set on the NFS server, checked;
 * its files of the tree first in the image, in read order, made by the real mksquashfs (the first
 * file's bytes at the image's start); a path through a symlink, outside the tree, of the identity
 * folder or unsayable in a sort file left out; an image in another order made again, the same
 * order reused. And the read set of an image root, from fincore's listing on the node (try/reads.ts).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { localFiles } from '../../src/publish/files.ts'
import { READS_VERSION, type ReadSet } from '../../src/rehearse/reads.ts'
import { rootImage } from '../../src/roots/image.ts'
import { imageOrder, newestReadSet } from '../../src/roots/order.ts'
import { residentReadSet } from '../../src/try/reads.ts'

let dir: string

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-roots-order-'))
})

test.after.each(async () => {
  await rm(dir, { recursive: true, force: true })
})

const EPOCH = 1_732_017_600
const OLD = '20261201-100000-0123abcd'
const NEW = '20261202-090000-4567cdef'

function readSet(build: string, paths: readonly string[], recipe = 'workers'): ReadSet {
  return { version: READS_VERSION, build, recipe, until: 'multi-user: running', seconds: 60, files: paths.map((path) => ({ path, size: 1 })) }
}

async function writeSet(builds: string, set: ReadSet | string, id = typeof set === 'string' ? NEW : set.build): Promise<void> {
  await writeFile(join(builds, `${id}.reads.json`), typeof set === 'string' ? set : JSON.stringify(set))
}

test('the newest read set of the recipe is used; another recipe\'s or a broken one is said, not used; none is none', async () => {
  const builds = join(dir, 'builds')
  await mkdir(builds)
  assert.equal(await newestReadSet(localFiles(), builds, 'workers'), {})
  await writeSet(builds, readSet(OLD, ['usr/bin/old']))
  await writeSet(builds, readSet(NEW, ['usr/bin/new']))
  await writeFile(join(builds, 'not-an-id.reads.json'), '{}')
  assert.equal((await newestReadSet(localFiles(), builds, 'workers')).set?.files.map((f) => f.path), ['usr/bin/new'])
  await writeSet(builds, readSet(NEW, ['usr/bin/new'], 'other'))
  assert.match((await newestReadSet(localFiles(), builds, 'workers')).problem ?? '', /read set of other, not of workers/)
  await writeSet(builds, '{"version":1,"build":"20261202-090000-4567cdef","recipe":"workers","until":"x","seconds":1,"files":[{"path":"../../etc/shadow","size":1}]}')
  assert.match((await newestReadSet(localFiles(), builds, 'workers')).problem ?? '', /could leave the build/)
  await writeSet(builds, 'not json')
  assert.match((await newestReadSet(localFiles(), builds, 'workers')).problem ?? '', /not JSON/)
})

test('only plain files of the tree reached through no symlink, with names a sort file can say, in read order', async () => {
  const root = join(dir, 'root')
  const outside = join(dir, 'outside')
  await mkdir(join(root, 'usr/lib'), { recursive: true })
  await mkdir(join(root, 'etc'), { recursive: true })
  await mkdir(outside)
  for (const path of ['usr/lib/libc.so.6', 'etc/fstab', 'usr/lib/a b', 'usr/lib/back\\slash']) await writeFile(join(root, path), 'x')
  await writeFile(join(outside, 'secret'), 'x')
  await symlink(outside, join(root, 'escape'))
  await symlink('/etc', join(root, 'hostetc'))
  await symlink('libc.so.6', join(root, 'usr/lib/libc.so'))
  const set = readSet(NEW, ['usr/lib/libc.so.6', 'escape/secret', 'hostetc/passwd', 'usr/lib/libc.so', 'nodes/<mac>/hostname', 'usr/lib/a b', 'usr/lib/back\\slash', 'etc/missing', 'usr/lib', 'etc/fstab'])
  const order = await imageOrder(set, root)
  assert.is(order?.sortText, 'usr/lib/libc.so.6 32767\netc/fstab 32766\n')
  assert.is(order?.files, 2)
  assert.is(order?.build, NEW)
  assert.is(await imageOrder(readSet(NEW, ['escape/secret', 'etc/missing']), root), undefined)
})

test('the read set\'s files come first in the image; another order is another image, the same order the cached one', async () => {
  const root = join(dir, 'root')
  await mkdir(join(root, 'boot'), { recursive: true })
  await writeFile(join(root, 'boot/config-6.1.0'), 'CONFIG_SQUASHFS=y\nCONFIG_SQUASHFS_ZLIB=y\n')
  // Random bytes do not compress: mksquashfs stores them as they are, and each file's first block can be found in the image.
  const names = ['aaa', 'mmm', 'zzz']
  const content: Record<string, Buffer> = {}
  await mkdir(join(root, 'data'))
  for (const name of names) await writeFile(join(root, 'data', name), (content[name] = randomBytes(300_000)))
  const at = (image: Buffer, name: string) => image.indexOf(content[name]!.subarray(0, 64))
  const cache = join(dir, 'cache')
  const key = 'a'.repeat(64)

  const plain = await rootImage(cache, 'workers', key, root, { epoch: EPOCH })
  const plainBytes = await readFile(plain.path)
  const zFirst = await imageOrder(readSet(NEW, ['data/zzz', 'data/mmm']), root)
  const ordered = await rootImage(cache, 'workers', key, root, { epoch: EPOCH, order: zFirst })
  assert.ok(ordered.made, 'another order makes the image again')
  assert.is(ordered.order, zFirst?.digest)
  const orderedBytes = await readFile(ordered.path)
  for (const name of names) assert.ok(at(plainBytes, name) > 0 && at(orderedBytes, name) > 0, `${name} is in both images`)
  assert.ok(at(orderedBytes, 'zzz') < at(orderedBytes, 'mmm') && at(orderedBytes, 'mmm') < at(orderedBytes, 'aaa'), 'zzz, then mmm, then the rest')
  assert.ok(at(plainBytes, 'aaa') < at(plainBytes, 'zzz'), "mksquashfs's own order without a read set")
  assert.not.ok((await rootImage(cache, 'workers', key, root, { epoch: EPOCH, order: zFirst })).made, 'the same order: the cached image')
  assert.ok((await rootImage(cache, 'workers', key, root, { epoch: EPOCH })).made, 'no order again: made again')
})

test("an image root's read set: files with bytes in memory, in path order; none, escaped or unsafe names left out", () => {
  const output = ['4096 /usr/lib/libc.so.6', '0 /usr/share/doc/never', '12288 /etc/fstab', '4096 /usr/lib/a\\x20b', '4096 /usr/lib/../../x', '4096 /run/../x', 'fincore: cannot open /gone: No such file', '8192 /nodes/<mac>/hostname', ''].join('\n')
  assert.equal(residentReadSet(output), [{ path: 'etc/fstab', size: 12288 }, { path: 'usr/lib/libc.so.6', size: 4096 }])
})

test.run()
