/**
 * What the unpack keeps in the archive's order: an entry that replaces an earlier one (a folder
 * that replaces a file is made), a hard link to a device node, device nodes made together at the
 * end (long names, owners, the split-off folder), files of every size beside small ones, many
 * folders with links across them, a failing call reported with its code and path and nothing made
 * after it, and an abort in the middle of a file (the file closed).
 * Archives written here with tar-stream.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pack, type Header } from 'tar-stream'
import { unpackTar } from '../../src/tarball/unpack.ts'
import { removeTempDirs, tempDir } from '../snapshot/tree.ts'

test.after.each(removeTempDirs)

type Item = Partial<Header> & { name: string; body?: Buffer | string }

async function archive(items: readonly Item[]): Promise<Buffer> {
  const stream = pack()
  const chunks: Buffer[] = []
  const collected = (async () => {
    for await (const chunk of stream) chunks.push(chunk as Buffer)
  })()
  for (const { body, ...header } of items) {
    await new Promise<void>((resolve, reject) => stream.entry({ mode: 0o644, ...header }, body ?? '', (error) => (error ? reject(error) : resolve())))
  }
  stream.finalize()
  await collected
  return Buffer.concat(chunks)
}

async function unpacked(items: readonly Item[]): Promise<string> {
  const tree = join((await tempDir('tarball-order')).path, 'tree')
  await mkdir(tree)
  await unpackTar(Readable.from(await archive(items)), tree, { archive: 'test.tar' })
  return tree
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

test('a later entry replaces an earlier one of the same path, whatever each is', async () => {
  const tree = await unpacked([
    { name: 'a', body: 'first' },
    { name: 'a', body: 'second', mode: 0o600 },
    { name: 'b', body: 'a file' },
    { name: 'b', type: 'directory', mode: 0o750 },
    { name: 'b/inside', body: 'in the folder' },
    { name: 'c', type: 'symlink', linkname: 'a' },
    { name: 'c', body: 'no longer a link' },
    { name: 'fifo', type: 'fifo', mode: 0o600 },
    { name: 'fifo', body: 'not a fifo' },
  ])
  assert.is(await readFile(join(tree, 'a'), 'utf8'), 'second')
  assert.is((await lstat(join(tree, 'a'))).mode & 0o7777, 0o600)
  assert.ok((await lstat(join(tree, 'b'))).isDirectory())
  assert.is((await lstat(join(tree, 'b'))).mode & 0o7777, 0o750)
  assert.is(await readFile(join(tree, 'b/inside'), 'utf8'), 'in the folder')
  assert.is(await readFile(join(tree, 'c'), 'utf8'), 'no longer a link')
  assert.is(await readFile(join(tree, 'fifo'), 'utf8'), 'not a fifo')
})

test('a hard link to a device node made later, and a file written again after a link to it', async () => {
  const tree = await unpacked([
    { name: 'dev', type: 'directory', mode: 0o755 },
    { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 },
    { name: 'dev/null-too', type: 'link', linkname: 'dev/null' },
    { name: 'x', body: 'old' },
    { name: 'y', type: 'link', linkname: 'x' },
    { name: 'x', body: 'new' },
    { name: 'z', type: 'symlink', linkname: 'x' },
  ])
  const [node, alias] = await Promise.all([lstat(join(tree, 'dev/null')), lstat(join(tree, 'dev/null-too'))])
  assert.ok(node.isCharacterDevice())
  assert.is(alias.ino, node.ino)
  assert.is(node.rdev, alias.rdev)
  assert.is(await readFile(join(tree, 'y'), 'utf8'), 'old')
  assert.is(await readFile(join(tree, 'x'), 'utf8'), 'new')
  assert.is(await readlink(join(tree, 'z')), 'x')
})

test('device nodes and FIFOs, with long and non-ASCII names and in the split-off folder, get their kind, numbers, owner, mode and time', async () => {
  const base = (await tempDir('tarball-order')).path
  const [tree, boot] = [join(base, 'tree'), join(base, 'boot')]
  await Promise.all([mkdir(tree), mkdir(boot)])
  const mtime = new Date(1_000_000_000_000)
  const long = `dev/${'long-node-name-'.repeat(8)}`
  const items: Item[] = [
    { name: 'dev', type: 'directory', mode: 0o755 },
    { name: long, type: 'character-device', mode: 0o620, uid: 5, gid: 6, devmajor: 4, devminor: 64, mtime },
    { name: 'dev/fifo-é', type: 'fifo', mode: 0o640, uid: 1000, gid: 1001, mtime },
    { name: 'boot/firmware/blk', type: 'block-device', mode: 0o600, devmajor: 7, devminor: 2, mtime },
  ]
  await unpackTar(Readable.from(await archive(items)), tree, { archive: 'test.tar', split: { prefix: 'boot/firmware', dir: boot } })
  const [char, fifo, block] = await Promise.all([lstat(join(tree, long)), lstat(join(tree, 'dev/fifo-é')), lstat(join(boot, 'blk'))])
  assert.ok(char.isCharacterDevice())
  assert.equal([char.rdev, char.mode & 0o7777, char.uid, char.gid, char.mtimeMs], [(4 << 8) | 64, 0o620, 5, 6, mtime.getTime()])
  assert.ok(fifo.isFIFO())
  assert.equal([fifo.mode & 0o7777, fifo.uid, fifo.gid, fifo.mtimeMs], [0o640, 1000, 1001, mtime.getTime()])
  assert.ok(block.isBlockDevice())
  assert.equal([block.rdev, block.mode & 0o7777], [(7 << 8) | 2, 0o600])
  assert.equal(await readdir(join(tree, 'boot/firmware')), [], 'the node below boot/firmware went into the tree')
})

test('files of every size, from empty to 17 MiB, are written whole beside small ones', async () => {
  const body = (size: number, seed: number) => Buffer.from(Buffer.alloc(size).map((_, i) => (i * 31 + seed) % 251))
  const files = [
    { name: 'small-1', body: body(100, 1) },
    { name: 'batch-sized', body: body(4 * 2 ** 20 + 1, 2) },
    { name: 'small-2', body: body(5000, 3) },
    { name: 'large', body: body(17 * 2 ** 20, 4), mode: 0o755 },
    { name: 'small-3', body: body(0, 5) },
    ...Array.from({ length: 600 }, (_, i) => ({ name: `many/${i}`, body: body(i * 13, i) })),
  ]
  const tree = await unpacked([{ name: 'many', type: 'directory' as const, mode: 0o755 }, ...files])
  for (const file of files) assert.is(sha256(await readFile(join(tree, file.name))), sha256(file.body), file.name)
  assert.is((await lstat(join(tree, 'large'))).mode & 0o7777, 0o755)
})

test('many folders, nested and side by side, some left out, with hard links across them: each file made whole, with its owner and mode', async () => {
  const items: Item[] = []
  const files: { name: string; body: Buffer }[] = []
  for (let a = 0; a < 30; a++) {
    items.push({ name: `d${a}`, type: 'directory', mode: 0o751 })
    for (let b = 0; b < 4; b++) {
      items.push({ name: `d${a}/e${b}`, type: 'directory', mode: 0o750 })
      for (let c = 0; c < 5; c++) {
        const file = { name: `d${a}/e${b}/f${c}`, body: Buffer.alloc(1000 * c + a, `${a}.${b}.${c}`) }
        files.push(file)
        items.push({ ...file, mode: 0o640, uid: a, gid: b })
      }
      // A link to a file of an earlier folder, and folders the archive leaves out.
      if (a > 0) items.push({ name: `d${a}/e${b}/link`, type: 'link', linkname: `d${a - 1}/e${b}/f1` })
      items.push({ name: `d${a}/e${b}/implied/deeper/g`, body: `${a}${b}` })
    }
  }
  const tree = await unpacked(items)
  for (const file of files) {
    const [info, bytes] = await Promise.all([lstat(join(tree, file.name)), readFile(join(tree, file.name))])
    assert.is(sha256(bytes), sha256(file.body), file.name)
    assert.equal([info.mode & 0o7777, info.uid, info.gid], [0o640, Number(file.name.split('/')[0]!.slice(1)), Number(file.name.split('/')[1]!.slice(1))], file.name)
  }
  for (let a = 1; a < 30; a++) {
    for (let b = 0; b < 4; b++) {
      const [link, target] = await Promise.all([lstat(join(tree, `d${a}/e${b}/link`)), lstat(join(tree, `d${a - 1}/e${b}/f1`))])
      assert.is(link.ino, target.ino)
      assert.is(await readFile(join(tree, `d${a}/e${b}/implied/deeper/g`), 'utf8'), `${a}${b}`)
    }
  }
  assert.is((await lstat(join(tree, 'd7'))).mode & 0o7777, 0o751)
  assert.is((await lstat(join(tree, 'd7/e2'))).mode & 0o7777, 0o750)
})

test('a call that fails fails the unpack with its code and path', async () => {
  const tree = join((await tempDir('tarball-order')).path, 'tree')
  await mkdir(tree)
  await writeFile(join(tree, 'there'), 'already')
  const error = await unpackTar(Readable.from(await archive([{ name: 'before', body: 'x' }, { name: 'there', body: 'new' }])), tree, { archive: 'test.tar' }).then(
    () => undefined,
    (e: unknown) => e as NodeJS.ErrnoException,
  )
  assert.ok(error, 'the unpack did not fail')
  assert.is(error!.code, 'EEXIST')
  assert.is(error!.path, join(tree, 'there'))
  assert.is(await readFile(join(tree, 'there'), 'utf8'), 'already')
})

test('after a call that fails, nothing more is made', async () => {
  const tree = join((await tempDir('tarball-order')).path, 'tree')
  await mkdir(tree)
  await writeFile(join(tree, 'there'), 'already')
  const items = [{ name: 'there', body: 'new' }, { name: 'after', body: Buffer.alloc(3 << 20) }, { name: 'later', type: 'directory' as const }, ...Array.from({ length: 50 }, (_, i) => ({ name: `later/${i}`, body: 'y' }))]
  const error = await unpackTar(Readable.from(await archive(items)), tree, { archive: 'test.tar' }).then(() => undefined, (e: unknown) => e as NodeJS.ErrnoException)
  assert.is(error?.code, 'EEXIST')
  assert.equal(await readdir(tree), ['there'])
})

test('an abort in the middle of a file: the file is closed, and nothing is written after the rejection', async () => {
  const tree = join((await tempDir('tarball-order')).path, 'tree')
  await mkdir(tree)
  const tar = await archive([{ name: 'big', body: Buffer.alloc(24 << 20, 1) }])
  const controller = new AbortController()
  // 12 MiB of the file, then nothing until the abort.
  const input = Readable.from((async function* () {
    yield tar.subarray(0, 12 << 20)
    await new Promise((resolve) => setTimeout(resolve, 500))
    controller.abort()
    await new Promise(() => {})
  })())
  const error = await unpackTar(input, tree, { archive: 'big.tar', signal: controller.signal }).then(() => undefined, (e: unknown) => e as Error)
  input.destroy()
  assert.is(error?.name, 'AbortError', String(error))
  const written = (await lstat(join(tree, 'big'))).size
  assert.ok(written > 0, 'nothing of the file was written before the abort')
  const open = []
  for (const fd of await readdir('/proc/self/fd')) open.push(await readlink(`/proc/self/fd/${fd}`).catch(() => ''))
  assert.not.ok(open.includes(join(tree, 'big')), 'the file is still open')
  // Nothing is written after the rejection.
  await new Promise((resolve) => setTimeout(resolve, 200))
  assert.is((await lstat(join(tree, 'big'))).size, written)
})

test.run()
