/**
 * pibake init on tiny images laid out like Raspberry Pi OS: the recipe it writes says what the image
 * is (sha256 file or digest, arch, boot layout), loads, and passes `pibake plan` as written; it never
 * overwrites a file. The demo image end to end (init, then build) is in demo-build.test.ts.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { plan } from '../../src/build.ts'
import { guessServer } from '../../src/init/host.ts'
import { init, nameFromImage } from '../../src/init/index.ts'
import { loadRecipe } from '../../src/recipe/load.ts'
import { decompressedImageFile } from '../../src/stages/image.ts'
import { exec } from '../../src/system/exec.ts'
import { makeTinyImage } from '../helpers/tiny-image.ts'

const server = { address: '192.168.7.2', network: '192.168.7.0', netmask: '255.255.255.0', interface: 'eth7' }
let dir: string

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-init-'))
})
test.after(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('an .img.xz with a sha256 file beside it: the recipe names the file, the arch and layout read from the image, and plans', async () => {
  const image = await makeTinyImage(join(dir, 'a'), { arch: 'armhf', bootMount: '/boot/firmware' })
  await exec(['xz', '-T0', '-1', '--keep', image.img])
  const xz = `${image.img}.xz`
  const sha = (await exec(['sha256sum', xz])).stdout.split(' ')[0]!
  await writeFile(`${xz}.sha256`, `${sha}  ${xz.split('/').pop()}\n`)
  const out = join(dir, 'out-a')
  const result = await init({ image: xz, name: 'lab', file: join(dir, 'project', 'recipes', 'lab.ts'), outDir: out, server, signal: new AbortController().signal })
  assert.is(result.image.arch, 'armhf')
  assert.is(result.image.bootMount, '/boot/firmware')
  assert.is(result.image.sha256, sha)
  const text = await readFile(result.file, 'utf8')
  assert.match(text, `sha256: '../../a/${xz.split('/').pop()}.sha256'`)
  assert.match(text, "arch: 'armhf'")
  assert.match(text, /GUESS: this host's address on eth7/)
  assert.match(text, "dhcp: { mode: 'proxy', network: '192.168.7.0' }")
  assert.match(text, 'boot partition on /boot/firmware, MBR partition table')
  const recipe = await loadRecipe(result.file, { outDir: out })
  assert.is(recipe.name, 'lab')
  assert.is(recipe.image.arch, 'armhf')
  assert.is(recipe.netboot.server, '192.168.7.2')
  assert.is(recipe.nodes.length, 1)
  // The decompressed image is where the build looks for it: the first build does not decompress again.
  assert.ok((await stat(decompressedImageFile(join(out, 'cache'), sha))).size > 0)
  const planned = await plan(result.file, { outDir: out })
  assert.equal(planned.stages.map((s) => s.name).slice(0, 2), ['image', 'extract'])
})

test('a plain .img on /boot with a GPT table and no sha256 file: the digest is written, and the layout said', async () => {
  const image = await makeTinyImage(join(dir, 'b'), { arch: 'arm64', bootMount: '/boot', table: 'gpt' })
  const out = join(dir, 'out-b')
  const file = join(dir, 'b-recipe.ts')
  const result = await init({ image: image.img, file, outDir: out, server, signal: new AbortController().signal })
  const text = await readFile(file, 'utf8')
  assert.match(text, `sha256: '${image.sha256}'`)
  assert.match(text, 'boot partition on /boot, GPT partition table')
  assert.is(result.image.arch, 'arm64')
  const recipe = await loadRecipe(file, { outDir: out })
  assert.is(recipe.name, nameFromImage(image.img))
  await plan(file, { outDir: out })
})

test('never overwrites: an existing recipe file is refused before the image is read', async () => {
  const file = join(dir, 'exists.ts')
  await writeFile(file, '// mine\n')
  try {
    await init({ image: join(dir, 'no-such.img'), file, outDir: join(dir, 'out-c'), server, signal: new AbortController().signal })
    assert.unreachable('init overwrote a file')
  } catch (error) {
    assert.match((error as Error).message, 'exists: pibake init never overwrites a recipe')
  }
  assert.is(await readFile(file, 'utf8'), '// mine\n')
})

test('a missing image is named', async () => {
  await mkdir(join(dir, 'd'), { recursive: true })
  try {
    await init({ image: join(dir, 'd', 'nope.img.xz'), file: join(dir, 'd', 'r.ts'), outDir: join(dir, 'out-d'), server, signal: new AbortController().signal })
    assert.unreachable('init took a missing image')
  } catch (error) {
    assert.match((error as Error).message, /--image .*nope\.img\.xz: no such file/)
  }
})

test('names from image files, and the server guessed from the first real IPv4 address', () => {
  assert.is(nameFromImage('/x/2025-05-13-raspios-bookworm-arm64-lite.img.xz'), 'raspios-bookworm-arm64-lite')
  assert.is(nameFromImage('raspios-demo-armhf.img.xz'), 'raspios-demo-armhf')
  assert.is(nameFromImage('My Image_v2.img'), 'my-image-v2')
  const lo = { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4' as const, mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }
  const eth = { address: '192.168.1.20', netmask: '255.255.255.0', family: 'IPv4' as const, mac: 'aa:bb:cc:dd:ee:ff', internal: false, cidr: '192.168.1.20/24' }
  assert.equal(guessServer({ lo: [lo], eth0: [eth] }), { address: '192.168.1.20', network: '192.168.1.0', netmask: '255.255.255.0', interface: 'eth0' })
  assert.is(guessServer({ lo: [lo] }).interface, undefined)
})

test.run()
