/**
 * The first hour's path on the armhf demo image (bookworm): pibake init, run as a person runs it,
 * writes a recipe for the image that builds and publishes as written; asked again, it refuses; and
 * pibake try boots its node under qemu-system-arm (proxy DHCP, as init writes it, with try's
 * stand-in for the LAN's own DHCP server) to a running system.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { appendFileSync, mkdirSync } from 'node:fs'
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import { clean } from '../../src/clean.ts'
import { buildDemoImage } from '../../src/demo/build.ts'
import { pibake } from '../helpers/cli.ts'
import { seedDecompressedImage } from '../helpers/demo-cache.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { pibakeTry } from '../try/run.ts'

const DEMO_DIR = join(import.meta.dirname, '../../out/demo')
let dir: string

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-init-demo-'))
})
test.after(async () => {
  await clean(join(dir, 'out')).catch(() => undefined)
  await rm(dir, { recursive: true, force: true })
})

test('pibake init --image <armhf demo image> writes a recipe that builds and publishes as written', async () => {
  mkdirSync(DEMO_DIR, { recursive: true })
  const log = join(DEMO_DIR, 'build-armhf-init-test.log')
  const image = await buildDemoImage({ arch: 'armhf', outDir: DEMO_DIR, onLine: (line) => appendFileSync(log, `${line}\n`) })
  const file = join(dir, 'recipes', 'first.ts')
  const out = join(dir, 'out')
  const run = await pibake(['init', '--image', image.xz, '--name', 'first', '-o', file, '--out', out])
  assert.is(run.code, 0, run.stderr)
  const text = await readFile(file, 'utf8')
  assert.match(text, "arch: 'armhf'")
  assert.match(text, 'raspios-demo-armhf.img.xz.sha256')
  await seedDecompressedImage(out, image)
  const result = await build(file, { outDir: out })
  assert.is(result.summary.result, 'published')
  assert.is(result.recipe.image.arch, 'armhf')
  const live = await readlink(join(out, 'publish/nfs/first/current'))
  assert.match(live, /^builds\/\d{8}-\d{6}-[0-9a-f]{8}$/)
  assert.equal(await leftBehind(dir), [])
  const again = await pibake(['init', '--image', image.xz, '--name', 'first', '-o', file, '--out', out])
  assert.is(again.code, 2)
  assert.match(again.stderr, 'never overwrites a recipe')
  assert.is(await readFile(file, 'utf8'), text)
})

test('pibake try boots the armhf node of that recipe under qemu-system-arm to a running system; the command\'s status is try\'s', async () => {
  const file = join(dir, 'recipes', 'first.ts')
  const run = await pibakeTry([file, '--out', join(dir, 'out'), '--timeout', '900', '--command', 'systemctl is-system-running --wait; exit 3'])
  assert.is(run.code, 3, run.stderr)
  assert.is(run.stdout.trim(), 'running')
  assert.match(run.stderr, /try: tftp: kernel7l\.img .*as published/)
  assert.match(run.stderr, /try: kernel: kernel7l\.img \+ initramfs7l under qemu-system-arm \(cortex-a15\)/)
  assert.match(run.stderr, /stood in for by try/)
  assert.match(run.stderr, /try: failed units: none/)
  assert.equal(run.left, [])
})

test.run()
