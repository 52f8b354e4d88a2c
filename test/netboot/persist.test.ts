/**
 * The netboot stage's part of `netboot.persist`, on a small root tree: each folder made in the
 * image (a mount point a read-only root cannot make at boot), the unit that mounts the node's own
 * copies installed and enabled early, and an image the folders cannot work in refused with the reason.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { StageError } from '../../src/errors.ts'
import { PERSIST_SCRIPT_PATH, PERSIST_UNIT } from '../../src/netboot/persist.ts'
import type { LayerContext } from '../../src/pipeline/stage.ts'
import type { Recipe } from '../../src/recipe/types.ts'
import { installPersist, persistInputs } from '../../src/stages/netboot-persist.ts'
import { rangeDhcp, recipe } from '../helpers/netboot-recipe.ts'

let root: string

test.before.each(async () => {
  root = await mkdtemp(join(tmpdir(), 'pibake-persist-root-'))
  // Merged /usr, as bookworm has it: /sbin is a link to usr/sbin.
  await mkdir(join(root, 'usr/sbin'), { recursive: true })
  await symlink('usr/sbin', join(root, 'sbin'))
  await writeFile(join(root, 'usr/sbin/mount.nfs'), '')
  await mkdir(join(root, 'etc'), { recursive: true })
})
test.after.each(async () => {
  await rm(root, { recursive: true, force: true })
})

function withPersist(persist?: readonly string[]): Recipe {
  const base = recipe({ dhcp: rangeDhcp, nodes: [] })
  return { ...base, netboot: { ...base.netboot, ...(persist ? { persist } : {}) } }
}

const ctx = (r: Recipe) => ({ root, recipe: r }) as unknown as LayerContext

async function refusal(r: Recipe): Promise<StageError> {
  try {
    await installPersist(ctx(r))
  } catch (error) {
    assert.instance(error, StageError)
    return error as StageError
  }
  throw new assert.Assertion({ message: 'the image was accepted', operator: 'refusal', expects: 'an error', actual: 'none' })
}

test('each folder exists in the image, and the unit that mounts them is installed and enabled before sysinit', async () => {
  await installPersist(ctx(withPersist(['/var/lib/rancher', '/etc/rancher'])))
  for (const folder of ['var/lib/rancher', 'etc/rancher']) assert.ok((await stat(join(root, folder))).isDirectory(), `${folder} is a folder of the image`)
  const script = await readFile(join(root, PERSIST_SCRIPT_PATH.slice(1)), 'utf8')
  assert.match(script, "server='10.77.0.2'")
  assert.match(script, "base='/srv/nfs/_persist'")
  assert.match(script, "for dir in '/var/lib/rancher' '/etc/rancher'; do")
  assert.is(((await stat(join(root, PERSIST_SCRIPT_PATH.slice(1)))).mode & 0o777).toString(8), '755')
  const unit = await readFile(join(root, 'etc/systemd/system', PERSIST_UNIT), 'utf8')
  assert.match(unit, /^DefaultDependencies=no$/m)
  assert.match(unit, /^Before=sysinit\.target /m)
  assert.is(await readlink(join(root, 'etc/systemd/system/sysinit.target.wants', PERSIST_UNIT)), `/etc/systemd/system/${PERSIST_UNIT}`)
})

test('without persist nothing is added, and the stage key is what it was', async () => {
  await installPersist(ctx(withPersist()))
  assert.equal(persistInputs(withPersist().netboot), {})
  assert.not.ok(existsSync(join(root, PERSIST_SCRIPT_PATH.slice(1))), 'no script')
  assert.not.ok(existsSync(join(root, 'etc/systemd/system', PERSIST_UNIT)), 'no unit')
  assert.ok('persist' in persistInputs(withPersist(['/var/lib/rancher']).netboot), 'with folders the key holds the script and unit')
})

test('refused: an image without the NFS client', async () => {
  await rm(join(root, 'usr/sbin/mount.nfs'))
  const error = await refusal(withPersist(['/var/lib/rancher']))
  assert.match(error.message, 'the image has no NFS client (mount.nfs)')
  assert.match(error.hint ?? '', "packages: ['nfs-common']")
})

test('refused: a folder that is a symlink in the image, naming where it leads', async () => {
  await mkdir(join(root, 'opt/rancher-data'), { recursive: true })
  await mkdir(join(root, 'var/lib'), { recursive: true })
  await symlink('/opt/rancher-data', join(root, 'var/lib/rancher'))
  const error = await refusal(withPersist(['/var/lib/rancher']))
  assert.match(error.message, 'netboot.persist: /var/lib/rancher is /opt/rancher-data in the image (a symlink leads there)')
  assert.match(error.hint ?? '', 'persist /opt/rancher-data instead')
})

test('refused: a file where the folder should be', async () => {
  await mkdir(join(root, 'etc/rancher'), { recursive: true })
  await writeFile(join(root, 'etc/rancher/config.yaml'), 'x')
  const error = await refusal(withPersist(['/etc/rancher/config.yaml']))
  assert.match(error.message, 'netboot.persist: /etc/rancher/config.yaml is a file in the image, not a folder')
})

test.run()
