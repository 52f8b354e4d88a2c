/**
 * SOURCE_DATE_EPOCH: where it comes from (the environment, the recipe, the image's date), and the
 * clamp every layer gets at its end, on small trees written here.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, mkdir, mkdtemp, rm, stat, symlink, utimes, writeFile, lutimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { clampTimes } from '../../src/repro/clamp.ts'
import { epochSetting, imageDate, parseEpoch, sourceDateEpoch } from '../../src/repro/epoch.ts'
import { PibakeError } from '../../src/errors.ts'
import { makeProject } from '../helpers/project.ts'

const DAY = 86_400
/** 2024-11-19 12:00 UTC. */
const EPOCH = 1_732_017_600

let dir: string
test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-epoch-'))
})
test.after.each(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** An image root: `/`, /etc, /usr, /var/lib/dpkg/status, and a file deep down, each with its own time. */
async function imageRoot(times: { root: number; etc: number; usr: number; status: number; deep: number }): Promise<string> {
  const root = join(dir, 'root')
  await mkdir(join(root, 'var/lib/dpkg'), { recursive: true })
  await mkdir(join(root, 'usr/share/doc'), { recursive: true })
  await mkdir(join(root, 'etc'), { recursive: true })
  await writeFile(join(root, 'var/lib/dpkg/status'), 'Package: base-files\n')
  await writeFile(join(root, 'usr/share/doc/newest'), 'a file deep down, newer than all\n')
  await utimes(join(root, 'usr/share/doc/newest'), times.deep, times.deep)
  await utimes(join(root, 'var/lib/dpkg/status'), times.status, times.status)
  for (const path of ['var/lib/dpkg', 'var/lib', 'var', 'usr/share/doc', 'usr/share']) await utimes(join(root, path), EPOCH - 9 * DAY, EPOCH - 9 * DAY)
  await utimes(join(root, 'usr'), times.usr, times.usr)
  await utimes(join(root, 'etc'), times.etc, times.etc)
  await utimes(root, times.root, times.root)
  return root
}

test("the image's date is the newest mtime of /, its direct entries and the dpkg status, not of a file deeper down", async () => {
  const times = { root: EPOCH - 5 * DAY, etc: EPOCH - 2 * DAY, usr: EPOCH - 3 * DAY, status: EPOCH - 4 * DAY, deep: EPOCH + 30 * DAY }
  assert.is(await imageDate(await imageRoot(times)), EPOCH - 2 * DAY)
  await rm(join(dir, 'root'), { recursive: true })
  assert.is(await imageDate(await imageRoot({ ...times, status: EPOCH - DAY })), EPOCH - DAY, 'the last package change counts')
})

test('SOURCE_DATE_EPOCH: the environment first, then the recipe, then the image', async () => {
  const root = await imageRoot({ root: EPOCH, etc: EPOCH, usr: EPOCH, status: EPOCH, deep: EPOCH })
  const recipe = { sourceDateEpoch: 1_000_000_000 }
  assert.equal(await sourceDateEpoch(root, { env: { SOURCE_DATE_EPOCH: '1234567890' }, recipe }), { seconds: 1_234_567_890, from: 'environment' })
  assert.equal(await sourceDateEpoch(root, { env: {}, recipe }), { seconds: 1_000_000_000, from: 'recipe' })
  assert.equal(await sourceDateEpoch(root, { env: { SOURCE_DATE_EPOCH: '' } }), { seconds: EPOCH, from: 'image' }, 'an empty variable is unset')
  assert.is(epochSetting({ env: {} }), 'image')
  assert.is(epochSetting({ env: {}, recipe }), 1_000_000_000)
  assert.is(epochSetting({ env: { SOURCE_DATE_EPOCH: '7' }, recipe }), 7)
})

test('a malformed SOURCE_DATE_EPOCH is refused, naming the value and what to give', () => {
  for (const text of ['yesterday', '-5', '1.5', '0x10', ' 12']) {
    const error = (() => {
      try {
        parseEpoch(text)
      } catch (e) {
        return e
      }
    })()
    assert.instance(error, PibakeError, text)
    assert.match((error as PibakeError).message, `SOURCE_DATE_EPOCH=${JSON.stringify(text)} is not a number of seconds since 1970`)
    assert.match((error as PibakeError).hint ?? '', 'git log -1 --format=%ct')
  }
  assert.is(parseEpoch('0'), 0)
})

test('the recipe gives sourceDateEpoch as seconds or a UTC date; anything else is refused', async () => {
  const project = await makeProject()
  try {
    const epoch = (value: unknown) => project.recipe((input) => Object.assign(input, { sourceDateEpoch: value })).sourceDateEpoch
    assert.is(epoch(EPOCH), EPOCH)
    assert.is(epoch('2024-11-19T12:00:00Z'), EPOCH)
    assert.is(epoch('2024-11-19'), EPOCH - 12 * 3600)
    assert.is(project.recipe().sourceDateEpoch, undefined)
    for (const [value, message] of [
      ['2024-02-30', '"2024-02-30" is not a UTC date'],
      ['next week', '"next week" is not a UTC date'],
      [-1, 'must not be before 1970'],
      [1.5, 'must be seconds since 1970 (a whole number) or a UTC date'],
    ] as const) {
      assert.throws(() => epoch(value), (error: Error) => error.message.includes(`sourceDateEpoch: ${message}`), String(value))
    }
  } finally {
    await project.remove()
  }
})

test('clamping dates what is newer than the epoch with it, keeps what is older, and never follows a link', async () => {
  const layer = join(dir, 'layer')
  await mkdir(join(layer, 'root/etc'), { recursive: true })
  await mkdir(join(layer, 'boot'), { recursive: true })
  const outside = join(dir, 'outside')
  await writeFile(outside, 'not in the layer\n')
  await utimes(outside, EPOCH + DAY, EPOCH + DAY)
  await writeFile(join(layer, 'root/etc/new'), 'written now\n')
  await writeFile(join(layer, 'root/etc/old'), 'from a package\n')
  await utimes(join(layer, 'root/etc/old'), EPOCH - DAY, EPOCH - DAY)
  await symlink(outside, join(layer, 'root/etc/link'))
  await writeFile(join(layer, 'boot/config.txt'), 'dtparam=x\n')
  await writeFile(join(layer, 'boot/future'), 'from a clock ahead\n')
  await utimes(join(layer, 'boot/future'), EPOCH - DAY, EPOCH + 100 * DAY)
  await lutimes(join(layer, 'root/etc/link'), EPOCH + DAY, EPOCH + DAY)

  const count = await clampTimes(layer, ['root', 'boot', 'absent'], EPOCH)
  const mtime = async (path: string) => (await lstat(join(layer, path))).mtimeMs / 1000
  for (const path of ['root', 'root/etc', 'root/etc/new', 'root/etc/link', 'boot', 'boot/config.txt', 'boot/future']) assert.is(await mtime(path), EPOCH, path)
  assert.is(await mtime('root/etc/old'), EPOCH - DAY)
  assert.is((await stat(outside)).mtimeMs / 1000, EPOCH + DAY, "the link's target is not touched")
  assert.is(count, 7)
  assert.is(await clampTimes(layer, ['root', 'boot'], EPOCH), 0, 'a clamped layer has nothing left to clamp')
})

test.run()
