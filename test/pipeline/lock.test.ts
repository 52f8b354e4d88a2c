/** One build of a recipe at a time, however many start at the same moment, and a dead build's lock taken over by one. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { acquireLock } from '../../src/pipeline/lock.ts'
import { dieHolding, overlaps, racers, stopHolders } from '../helpers/lock-holder.ts'

let dir: string
test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-lock-'))
})
test.after.each(async () => {
  stopHolders()
  await rm(dir, { recursive: true, force: true })
})

/** Each racer's words, and the refusals that name any pid but a racer's that held the lock then. */
function wrongNames(said: readonly string[], pids: readonly number[]): string[] {
  const holders = pids.filter((_, i) => said[i]?.startsWith('released '))
  return said.filter((text) => text.startsWith('refused: ') && !holders.some((pid) => text === `refused: another pibake build of this recipe is running (pid ${pid})`))
}

test('of builds starting at once in this process, exactly one holds the lock', async () => {
  for (let round = 0; round < 20; round++) {
    const tries = await Promise.allSettled(Array.from({ length: 8 }, () => acquireLock(dir)))
    const held = tries.filter((t) => t.status === 'fulfilled')
    assert.is(held.length, 1, `round ${round}: ${held.length} builds hold the lock`)
    await (held[0] as PromiseFulfilledResult<() => Promise<void>>).value()
    assert.equal(await readdir(dir), [], 'released, nothing stays')
  }
})

test('of builds in separate processes starting at the same moment, never two hold the lock, and the others are refused naming the holder', async () => {
  // The lock used to appear empty before its pid was written: a build starting meanwhile read
  // it as a dead holder's and removed it (3 rounds of 15 had two holders here, none since).
  const racing = racers({ kind: 'build', dir }, 6)
  try {
    for (let round = 0; round < 15; round++) {
      const said = await racing.race(300)
      assert.equal(overlaps(said), [], `round ${round}: two held it at once:\n${said.join('\n')}`)
      assert.ok(said.some((text) => text.startsWith('released ')), `round ${round}: one held it:\n${said.join('\n')}`)
      assert.equal(wrongNames(said, racing.pids), [], `round ${round}: each refusal names the holder`)
      assert.equal(await readdir(dir), [])
    }
  } finally {
    await racing.close()
  }
})

test("of builds starting at once on a dead build's lock, never two hold it", async () => {
  // Each of them used to remove the dead build's lock, the later ones removing the lock the first had taken meanwhile.
  const racing = racers({ kind: 'build', dir }, 6)
  try {
    for (let round = 0; round < 30; round++) {
      const dead = await dieHolding({ kind: 'build', dir })
      const said = await racing.race(100)
      assert.equal(overlaps(said), [], `round ${round}: two held it at once:\n${said.join('\n')}`)
      assert.ok(said.some((text) => text.startsWith('released ')), `round ${round}: one took it over:\n${said.join('\n')}`)
      assert.equal(wrongNames(said, racing.pids), [], `round ${round}: each refusal names a holder, not the dead pid ${dead}:\n${said.join('\n')}`)
      assert.equal(await readdir(dir), [])
    }
  } finally {
    await racing.close()
  }
})

test("a dead holder's lock of an older pibake (a pid alone) is taken over", async () => {
  await writeFile(join(dir, 'lock'), '2147483646')
  const release = await acquireLock(dir)
  await release()
  assert.equal(await readdir(dir), [])
})

test.run()
