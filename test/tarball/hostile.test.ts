/**
 * Archives made to write outside the tree they are unpacked into: each is refused with an error
 * naming the entry, and nothing appears outside the tree. The archives are written here with
 * tar-stream itself, not with pibake's writer (which never makes such entries).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pack, type Header } from 'tar-stream'
import { PibakeError } from '../../src/errors.ts'
import { unpackImageTarball } from '../../src/tarball/image.ts'
import { TarballEntryError } from '../../src/tarball/names.ts'
import { unpackTar } from '../../src/tarball/unpack.ts'
import { paxBlock, paxRecords } from '../../src/tarball/pax.ts'
import { removeTempDirs, tempDir } from '../snapshot/tree.ts'

test.after.each(removeTempDirs)

type Item = Partial<Header> & { name: string; body?: string; pax?: Record<string, Buffer> }

async function archive(items: readonly Item[]): Promise<Buffer> {
  const stream = pack()
  const chunks: Buffer[] = []
  const collected = (async () => {
    for await (const chunk of stream) chunks.push(chunk as Buffer)
  })()
  for (const { body, pax, ...header } of items) {
    if (pax) stream.push(paxBlock(paxRecords({ xattrs: pax }), 0))
    await new Promise<void>((resolve, reject) => stream.entry({ mode: 0o644, ...header }, body ?? '', (error) => (error ? reject(error) : resolve())))
  }
  stream.finalize()
  await collected
  return Buffer.concat(chunks)
}

/** Unpacks `items` into `<tmp>/tree`; resolves to the error, and checks nothing was written beside the tree. */
async function refused(items: readonly Item[]): Promise<PibakeError> {
  const base = (await tempDir('tarball-hostile')).path
  const tree = join(base, 'tree')
  await mkdir(tree)
  const error = await unpackTar(Readable.from(await archive(items)), tree, { archive: 'evil.tar' }).then(
    () => undefined,
    (e: unknown) => e,
  )
  assert.equal(await readdir(base), ['tree'], 'something was written outside the tree')
  assert.instance(error, PibakeError, `not refused: ${String(error)}`)
  return error as PibakeError
}

test('an entry with .. is refused, by name', async () => {
  const error = await refused([{ name: './' , type: 'directory' }, { name: '../evil', body: 'x' }])
  assert.match(error.message, 'evil.tar: entry "../evil" has a ".." component')
})

test('a .. in the middle of a name is refused', async () => {
  const error = await refused([{ name: './a/', type: 'directory' }, { name: './a/../../evil', body: 'x' }])
  assert.match(error.message, 'entry "./a/../../evil"')
})

test('an absolute name is refused', async () => {
  const error = await refused([{ name: '/etc/evil', body: 'x' }])
  assert.match(error.message, 'entry "/etc/evil" is an absolute path')
})

test('a symlink climbing above the root is refused', async () => {
  const error = await refused([{ name: './usr/', type: 'directory' }, { name: './usr/up', type: 'symlink', linkname: '../../../outside' }])
  assert.match(error.message, 'entry "./usr/up" is a symlink to "../../../outside", which leads outside the tree')
})

test('an absolute symlink is kept (it means the image root, as in a chroot), but nothing is written through it', async () => {
  const base = (await tempDir('tarball-hostile')).path
  // The symlink points at the tempdir beside the tree: unpacking `./escape/evil` must not land there.
  const error = await refused([{ name: './escape', type: 'symlink', linkname: base }, { name: './escape/evil', body: 'x' }])
  assert.match(error.message, 'entry "./escape/evil" is below "escape", which the archive made a symlink or file')
  assert.equal(await readdir(base), [])
})

test('a hard link to a path outside the tree, or to nothing the archive holds, is refused', async () => {
  let error = await refused([{ name: './h', type: 'link', linkname: '../outside' }])
  assert.match(error.message, 'entry "./h" is a hard link to "../outside", which has a ".." component')
  error = await refused([{ name: './h', type: 'link', linkname: '/etc/passwd' }])
  assert.match(error.message, 'entry "./h" is a hard link to "/etc/passwd", which is an absolute path')
  error = await refused([{ name: './h', type: 'link', linkname: './missing' }])
  assert.match(error.message, 'entry "./h" is a hard link to "./missing", which is not a file of the archive before it')
})

test('a folder replaced by a file, and an overlayfs attribute, are refused', async () => {
  let error = await refused([{ name: './d/', type: 'directory' }, { name: './d', body: 'x' }])
  assert.match(error.message, 'entry "./d" replaces a folder')
  error = await refused([{ name: './f', body: 'x', pax: { 'trusted.overlay.redirect': Buffer.from('/etc') } }])
  assert.match(error.message, 'entry "./f" has the overlayfs attribute trusted.overlay.redirect')
})

test('through the image import: the same refusal, as a TarballEntryError with its hint, and nothing left in the cache', async () => {
  const base = (await tempDir('tarball-hostile')).path
  const file = join(base, 'evil.tar')
  await writeFile(file, await archive([{ name: './', type: 'directory' }, { name: '../evil', body: 'x' }]))
  const error = await unpackImageTarball(file, join(base, 'cache/tree'), { as: 'root' }).then(
    () => undefined,
    (e: unknown) => e,
  )
  assert.instance(error, TarballEntryError, `not refused as the entry's own error: ${String(error)}`)
  assert.match((error as TarballEntryError).message, `${file}: entry "../evil" has a ".." component`)
  assert.match((error as TarballEntryError).hint ?? '', 'pibake unpacks a root filesystem only when every entry stays inside it')
  assert.equal((await readdir(base)).sort(), ['cache', 'evil.tar'])
  assert.equal(await readdir(join(base, 'cache')), [])
})

test.run()
