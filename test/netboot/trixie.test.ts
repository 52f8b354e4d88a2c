/** The netboot stage's pieces for Raspberry Pi OS trixie images: NetworkManager and cloud-init. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLOUD_INIT_DISABLED, SEED_FILES, disableCloudInit } from '../../src/netboot/cloudinit.ts'
import { NETWORKMANAGER_CONF_PATH, networkManagerConf, unmanageBootInterface } from '../../src/netboot/networkmanager.ts'

async function tree(files: Record<string, string>): Promise<{ dir: string; root: string; boot: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-trixie-'))
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true })
    await writeFile(join(dir, path), text)
  }
  await mkdir(join(dir, 'root'), { recursive: true })
  await mkdir(join(dir, 'boot'), { recursive: true })
  return { dir, root: join(dir, 'root'), boot: join(dir, 'boot') }
}

test('NetworkManager leaves every node boot interface alone, by MAC and by kernel name, adding to the image list', () => {
  const conf = networkManagerConf([{ mac: 'DC:A6:32:00:00:01' }, { mac: 'e4:5f:01:00:00:02' }])
  assert.match(conf, /^\[keyfile\]$/m)
  assert.match(conf, /^\[main\]\nhostname-mode=none$/m)
  assert.match(conf, /^unmanaged-devices\+=mac:dc:a6:32:00:00:01;mac:e4:5f:01:00:00:02;interface-name:eth0;interface-name:end0$/m)
})

test('the NetworkManager drop-in is written only into an image that has NetworkManager', async () => {
  const t = await tree({ 'with/etc/NetworkManager/NetworkManager.conf': '[main]\n', 'without/etc/hostname': '' })
  try {
    assert.ok(await unmanageBootInterface(join(t.dir, 'with'), [{ mac: 'dc:a6:32:00:00:01' }]))
    assert.match(await readFile(join(t.dir, 'with', NETWORKMANAGER_CONF_PATH), 'utf8'), 'mac:dc:a6:32:00:00:01')
    assert.not.ok(await unmanageBootInterface(join(t.dir, 'without'), [{ mac: 'dc:a6:32:00:00:01' }]))
    assert.equal(await readdir(join(t.dir, 'without/etc')), ['hostname'])
  } finally {
    await rm(t.dir, { recursive: true, force: true })
  }
})

test('cloud-init is disabled in an image that has it, and its seed leaves the boot files', async () => {
  const t = await tree({ 'root/etc/cloud/cloud.cfg': 'users: [default]\n', 'boot/user-data': '#cloud-config\n', 'boot/meta-data': '', 'boot/network-config': '', 'boot/cmdline.txt': 'ro\n' })
  try {
    assert.ok(await disableCloudInit(t.root, t.boot))
    assert.match(await readFile(join(t.root, CLOUD_INIT_DISABLED), 'utf8'), /^# pibake/)
    assert.equal(await readdir(t.boot), ['cmdline.txt'])
    assert.equal([...SEED_FILES].sort(), ['meta-data', 'network-config', 'user-data'])
  } finally {
    await rm(t.dir, { recursive: true, force: true })
  }
})

test('an image without cloud-init is left as it is, a user-data file on its boot partition too', async () => {
  const t = await tree({ 'root/etc/hostname': '', 'boot/user-data': 'mine\n' })
  try {
    assert.not.ok(await disableCloudInit(t.root, t.boot))
    assert.equal(await readdir(join(t.root, 'etc')), ['hostname'])
    assert.equal(await readdir(t.boot), ['user-data'])
  } finally {
    await rm(t.dir, { recursive: true, force: true })
  }
})

test.run()
