/**
 * Archives that end early or are damaged, as a recipe's image: each import ends with an error that
 * says what is wrong (the decompressor's own, when it is the one that failed), nothing of the
 * decompressor is left running, and no tree or partial folder is left in the cache. An abort stops
 * the import the same way. The archives: 24 files of 256 KiB of random letters (6 MiB, so that the
 * decompressor is still writing when the unpack stops; compressible, so that zstd's blocks are
 * compressed ones, whose damage it finds), written here with tar-stream.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { open, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Readable } from 'node:stream'
import { pack } from 'tar-stream'
import { CommandError, PibakeError } from '../../src/errors.ts'
import { exec } from '../../src/system/exec.ts'
import { writeTarball } from '../../src/tarball/compression.ts'
import { unpackImageTarball } from '../../src/tarball/image.ts'
import { TarballDamagedError, unpackTar } from '../../src/tarball/unpack.ts'
import { removeTempDirs, tempDir } from '../snapshot/tree.ts'

test.after.each(removeTempDirs)

const FILES = 24
const FILE_SIZE = 256 << 10
/** Where entry `index`'s header is in the tar stream: each file is a 512-byte header and its contents (a multiple of 512 bytes, no padding). */
const headerAt = (index: number) => index * (512 + FILE_SIZE)

let made: Promise<Buffer> | undefined

/** The tar stream of every test (made once): a test changes a copy. */
async function tarBytes(): Promise<Buffer> {
  made ??= makeTar()
  return Buffer.from(await made)
}

async function makeTar(): Promise<Buffer> {
  const stream = pack()
  const chunks: Buffer[] = []
  const collected = (async () => {
    for await (const chunk of stream) chunks.push(chunk as Buffer)
  })()
  for (let i = 0; i < FILES; i++) {
    await new Promise<void>((resolve, reject) => stream.entry({ name: `f${String(i).padStart(2, '0')}`, mode: 0o644 }, randomBytes(FILE_SIZE).map((byte) => 0x61 + (byte & 15)), (error) => (error ? reject(error) : resolve())))
  }
  stream.finalize()
  await collected
  return Buffer.concat(chunks)
}

/** Writes the tar stream `tar` as `name` (compressed as its name says) in a new folder. */
async function archive(name: string, tar: Buffer): Promise<string> {
  const file = join((await tempDir('tarball-damaged')).path, name)
  await writeTarball(Readable.from([tar]), file)
  return file
}

const wholes = new Map<string, Buffer>()

/** The bytes of the whole tar stream, compressed as `suffix` says (made once each). */
async function whole(suffix: 'tar.zst' | 'tar.xz'): Promise<Buffer> {
  if (!wholes.has(suffix)) wholes.set(suffix, await readFile(await archive(`whole.${suffix}`, await tarBytes())))
  return wholes.get(suffix)!
}

/** The programs this process runs now (its children). */
async function children(): Promise<string[]> {
  const names: string[] = []
  for (const task of await readdir('/proc/self/task')) {
    const pids = (await readFile(`/proc/self/task/${task}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean)
    for (const pid of pids) names.push((await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '(gone)')).trim())
  }
  return names
}

/** Far longer than any of these imports takes, even on a loaded machine (a few seconds). */
const HANG_MS = 120_000

/**
 * The error `work` rejects with. Work that never ends (a decompressor blocked on output nobody
 * reads, an input nobody stops waiting for) fails here rather than at the file's time limit.
 */
async function failure(work: Promise<unknown>, what: string): Promise<Error> {
  let guard: NodeJS.Timeout | undefined
  const hung = new Promise<'hung'>((resolve) => (guard = setTimeout(() => resolve('hung'), HANG_MS)))
  const settled = work.then(() => undefined, (error: unknown) => error as Error)
  const error = await Promise.race([settled, hung]).finally(() => clearTimeout(guard))
  assert.ok(error !== 'hung', `${what} did not end in ${HANG_MS / 1000} s`)
  assert.ok(error, `${what} succeeded`)
  return error as Error
}

/** Imports `file` into a fresh cache; resolves to the error, after checking that neither the tree nor a partial folder is left, nor a decompressor running. */
async function refused(file: string, signal?: AbortSignal, onStart?: (partial: string) => void): Promise<Error> {
  const cache = (await tempDir('tarball-cache')).path
  const target = join(cache, 'tree')
  onStart?.(`${target}.${process.pid}.partial`)
  const error = await failure(unpackImageTarball(file, target, { as: 'root', ...(signal ? { signal } : {}) }), `the import of ${file}`)
  assert.equal(await readdir(cache), [], 'a tree or a partial folder is left in the cache')
  const running = (await children()).filter((name) => name === 'zstd' || name === 'xz')
  assert.equal(running, [], 'a decompressor is still running')
  return error
}

test('a .tar.zst cut short: zstd\'s own error, with its hint', async () => {
  const bytes = await whole('tar.zst')
  const file = join((await tempDir('tarball-damaged')).path, 'short.tar.zst')
  await writeFile(file, bytes.subarray(0, bytes.length >> 1))
  const error = await refused(file)
  assert.instance(error, CommandError)
  assert.match(error.message, /^zstd .* exited 1/)
  assert.match((error as CommandError).hint ?? '', `${file} is not a complete zstd file`)
})

test('a .tar.zst damaged in the middle: refused, naming the file (zstd finds the damage by its checksum at the end, the tar reader may find it first)', async () => {
  const bytes = await whole('tar.zst')
  const middle = bytes.length >> 1
  const file = join((await tempDir('tarball-damaged')).path, 'damaged.tar.zst')
  await writeFile(file, Buffer.concat([bytes.subarray(0, middle), Buffer.alloc(4096, 0x5a), bytes.subarray(middle + 4096)]))
  const error = await refused(file)
  assert.instance(error, PibakeError, String(error))
  assert.ok(`${error.message} ${(error as PibakeError).hint}`.includes(file), String(error))
})

test('a .tar.zst whose checksum does not match: zstd\'s error', async () => {
  const bytes = await whole('tar.zst')
  const file = join((await tempDir('tarball-damaged')).path, 'checksum.tar.zst')
  // zstd ends a frame with a 4-byte checksum of its contents.
  await writeFile(file, Buffer.concat([bytes.subarray(0, -4), Buffer.from(bytes.subarray(-4).map((byte) => byte ^ 0xff))]))
  const error = await refused(file)
  assert.instance(error, CommandError, String(error))
  assert.match(error.message, /^zstd .* exited 1/)
  assert.match(error.message, 'checksum')
})

test('a .tar.zst with bytes after its end: zstd\'s error, though the tar stream in it was whole', async () => {
  const bytes = await whole('tar.zst')
  const file = join((await tempDir('tarball-damaged')).path, 'trailing.tar.zst')
  await writeFile(file, Buffer.concat([bytes, Buffer.alloc(100, 0x5a)]))
  const error = await refused(file)
  assert.instance(error, CommandError, String(error))
  assert.match(error.message, /^zstd .* exited 1/)
})

test('a .tar.xz cut short: xz\'s own error', async () => {
  const bytes = await whole('tar.xz')
  const file = join((await tempDir('tarball-damaged')).path, 'short.tar.xz')
  await writeFile(file, bytes.subarray(0, bytes.length >> 1))
  const error = await refused(file)
  assert.instance(error, CommandError)
  assert.match(error.message, /^xz .* exited 1/)
})

test('a tar stream cut short in a complete .tar.zst, and in a .tar: the archive is not complete', async () => {
  const tar = await tarBytes()
  for (const name of ['short.tar.zst', 'short.tar']) {
    const file = await archive(name, tar.subarray(0, headerAt(FILES >> 1) + 1000))
    const error = await refused(file)
    assert.instance(error, TarballDamagedError)
    assert.match(error.message, `${file} is not a complete tar archive: Unexpected end of data`)
  }
})

test('a damaged header in a complete .tar.zst: refused while zstd still writes, and zstd stopped', async () => {
  const tar = await tarBytes()
  tar.fill(0x5a, headerAt(4), headerAt(4) + 512)
  const file = await archive('bad-header.tar.zst', tar)
  const error = await refused(file)
  assert.instance(error, TarballDamagedError)
  assert.match(error.message, `${file} is not a complete tar archive: Invalid tar header`)
})

test('an abort stops the import with its reason, zstd stopped and the partial folder removed', async () => {
  const file = join((await tempDir('tarball-damaged')).path, 'held.tar.zst')
  await exec(['mkfifo', file])
  const bytes = await whole('tar.zst')
  const controller = new AbortController()
  let release = () => {}
  const settled = new Promise<void>((resolve) => (release = resolve))
  // The archive comes through a FIFO: its first half at once, the rest 64 KiB every 100 ms, the
  // end only once the import has settled. However fast the import (on its own threads), it cannot
  // end before the abort; one the abort does not stop ends without an error, or hangs (failure()
  // says which). Nothing closes the input on the abort: an import must stop on the signal alone.
  const writing = (async () => {
    const out = await open(file, 'w')
    try {
      await out.write(bytes.subarray(0, bytes.length >> 1))
      for (let at = bytes.length >> 1; at < bytes.length; at += 64 << 10) {
        await sleep(100)
        await out.write(bytes.subarray(at, Math.min(bytes.length, at + (64 << 10))))
      }
      await settled
    } finally {
      await out.close()
    }
  })().catch((error: unknown) => {
    // The import, stopped, closed its end while the rest was still being written.
    if (!controller.signal.aborted) throw error
  })
  // Aborted once the unpack has made its first file.
  let poll: NodeJS.Timeout | undefined
  try {
    const error = await refused(file, controller.signal, (partial) => {
      poll = setInterval(() => {
        readdir(join(partial, 'root')).then((names) => names.length && controller.abort(), () => {})
      }, 5)
    })
    assert.ok(controller.signal.aborted, 'the import ended before the abort')
    assert.is(error.name, 'AbortError', String(error))
  } finally {
    clearInterval(poll)
    release()
    await writing
  }
})

test('unpackTar: an abort while the input waits rejects with its reason', async () => {
  const tar = await tarBytes()
  const tree = (await tempDir('tarball-damaged')).path
  const controller = new AbortController()
  // The first half, then nothing more until the end of time.
  const input = Readable.from((async function* () {
    yield tar.subarray(0, tar.length >> 1)
    controller.abort()
    await new Promise(() => {})
  })())
  const error = await failure(unpackTar(input, tree, { archive: 'half.tar', signal: controller.signal }), 'the unpack')
  assert.is(error.name, 'AbortError', String(error))
  input.destroy()
})

test.run()
