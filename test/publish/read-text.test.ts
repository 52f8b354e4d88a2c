/**
 * HostFiles.readText on this machine: a file's exact text (no newline added or taken), undefined for
 * a missing one, and a file larger than the reader's limit refused unread with an error naming it
 * (what a target holds is hostile: a site record, read set or snapshot made huge there must not
 * exhaust pibake's memory). The same over SSH is in test/publish/ssh.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError } from '../../src/errors.ts'
import { localFiles, MAX_TEXT_BYTES } from '../../src/publish/files.ts'

let dir: string
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-read-text-'))
})
test.after(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('the exact text, with or without a last newline; undefined when missing', async () => {
  const files = localFiles()
  await writeFile(join(dir, 'plain'), 'one\ntwo')
  await writeFile(join(dir, 'newline'), 'one\ntwo\n')
  assert.is(await files.readText(join(dir, 'plain')), 'one\ntwo')
  assert.is(await files.readText(join(dir, 'newline')), 'one\ntwo\n')
  assert.is(await files.readText(join(dir, 'absent')), undefined)
})

test('a file larger than the limit is refused, naming it and the limit; one at the limit is read', async () => {
  const files = localFiles()
  await writeFile(join(dir, 'big'), 'x'.repeat(1001))
  const error = await files.readText(join(dir, 'big'), 1000).catch((e: unknown) => e)
  assert.instance(error, PibakeError)
  assert.match(String(error), `${join(dir, 'big')} is larger than 1000 bytes`)
  assert.is((await files.readText(join(dir, 'big'), 1001))?.length, 1001)
  assert.ok(MAX_TEXT_BYTES >= 64 * 1024 * 1024, 'the default leaves room for the largest file pibake writes (snapshots of big builds)')
})

test.run()
