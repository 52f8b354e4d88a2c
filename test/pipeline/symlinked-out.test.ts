/**
 * An out folder reached through a symbolic link (`out -> /data/pibake-out`): the kernel's mount
 * table names it by its real path. A build with a customize `run` step under real qemu-user works,
 * leaves nothing behind, and `pibake clean --out <link>` finds a mount left there on purpose.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import { clean } from '../../src/clean.ts'
import { exec } from '../../src/system/exec.ts'
import { isMounted } from '../../src/system/mount.ts'
import { fileSha256 } from '../../src/stages/image.ts'
import { REPO, demoImage } from '../customize/demo-root.ts'
import { leftBehind } from '../helpers/leftovers.ts'

let dir: string
let link: string
let real: string

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-symlinked-out-'))
  real = join(dir, 'data', 'pibake-out')
  await mkdir(real, { recursive: true })
  link = join(dir, 'out')
  await symlink(real, link)
})
test.after(async () => {
  await clean(link)
  await rm(dir, { recursive: true, force: true })
})

test('a build with a customize run step, out behind a symlink: it runs, and leaves nothing mounted or attached', async () => {
  const image = (await demoImage('arm64')).img
  // Hashed into the out folder's own memo, where the image stage finds it.
  const sha256 = await fileSha256(image, join(real, 'cache/checksums.json'))
  const file = join(dir, 'recipe.ts')
  await writeFile(file, recipeText(image, sha256))
  const result = await build(file, { outDir: link })
  assert.is(result.summary.result, 'published')
  const published = join(link, 'publish/nfs/symlinked/current')
  assert.is(await readFile(join(published, 'etc/pibake-symlinked'), 'utf8'), 'ran on aarch64\n')
  assert.equal(await leftBehind(link), [])
  assert.equal(await leftBehind(real), [])
})

test('pibake clean --out <link> finds a mount left on purpose, and the leftover check sees it first', async () => {
  const target = join(link, 'work/symlinked/mnt/left-on-purpose')
  await mkdir(target, { recursive: true })
  await exec(['mount', '-t', 'tmpfs', 'pibake-left', target])
  try {
    const left = await leftBehind(link)
    assert.is(left.length, 1, `the leftover check must fire: ${left.join('\n')}`)
    const resolved = join(await realpath(link), 'work/symlinked/mnt/left-on-purpose')
    assert.ok(await isMounted(resolved))
    const cli = join(REPO, 'src/cli.ts')
    const { stderr } = await exec([process.execPath, '--conditions=pibake-source', cli, 'clean', '--out', link])
    assert.match(stderr, `pibake clean: unmounted ${resolved}`)
    assert.not.ok(await isMounted(resolved))
    assert.equal(await leftBehind(link), [])
  } finally {
    if (await isMounted(join(real, 'work/symlinked/mnt/left-on-purpose'))) await exec(['umount', join(real, 'work/symlinked/mnt/left-on-purpose')])
  }
})

function recipeText(image: string, sha256: string): string {
  return `export default {
  name: 'symlinked',
  image: { path: ${JSON.stringify(image)}, sha256: ${JSON.stringify(sha256)} },
  netboot: { server: '10.99.0.1', dhcp: { mode: 'proxy', network: '10.99.0.0' }, nfs: { server: '10.99.0.2' } },
  nodes: [{ hostname: 'alpha', mac: 'dc:a6:32:00:00:31', ip: '10.99.0.11', model: '4B' }],
  customize: [
    { kind: 'run', command: 'echo "ran on $(uname -m)" > /etc/pibake-symlinked' },
  ],
}
`
}

test.run()
