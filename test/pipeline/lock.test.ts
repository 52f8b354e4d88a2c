/** One build of a recipe at a time, however many start at the same moment. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { acquireLock } from '../../src/pipeline/lock.ts'
import { exec } from '../../src/system/exec.ts'

/** A build's start: waits for the common moment, takes the lock, holds it 300 ms; prints held or refused. */
const START = `const { acquireLock } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../src/pipeline/lock.ts')).href)})
const [dir, at] = process.argv.slice(1)
while (Date.now() < Number(at)) {}
try { const release = await acquireLock(dir); console.log('held'); await new Promise((done) => setTimeout(done, 300)); await release() } catch { console.log('refused') }`

test('of builds starting at once, exactly one holds the lock and the others are refused naming it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-lock-'))
  try {
    for (let round = 0; round < 20; round++) {
      const tries = await Promise.allSettled(Array.from({ length: 8 }, () => acquireLock(dir)))
      const held = tries.filter((t) => t.status === 'fulfilled')
      assert.is(held.length, 1, `round ${round}: ${held.length} builds hold the lock`)
      for (const t of tries) if (t.status === 'rejected') assert.match(String(t.reason), `another pibake build of this recipe is running (pid ${process.pid})`)
      await (held[0] as PromiseFulfilledResult<() => Promise<void>>).value()
      assert.equal(await readdir(dir), [], 'released, nothing stays')
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('of builds in separate processes starting at the same moment, exactly one holds the lock', async () => {
  // The lock used to appear empty before its pid was written: a build starting meanwhile read
  // it as a dead holder's and removed it (3 rounds of 15 had two holders here, none since).
  const dir = await mkdtemp(join(tmpdir(), 'pibake-lock-'))
  try {
    for (let round = 0; round < 15; round++) {
      const at = String(Date.now() + 700)
      const outs = await Promise.all(Array.from({ length: 6 }, () => exec([process.execPath, '--input-type=module', '-e', START, dir, at])))
      assert.is(outs.filter((o) => o.stdout === 'held').length, 1, `round ${round}: ${outs.map((o) => o.stdout).join(' ')}`)
      assert.equal(await readdir(dir), [])
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test("a dead holder's lock is taken over", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-lock-'))
  try {
    await writeFile(join(dir, 'lock'), '2147483646')
    const release = await acquireLock(dir)
    await release()
    assert.equal(await readdir(dir), [])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
