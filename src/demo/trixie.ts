/**
 * What makes the debootstrapped trixie root look like Raspberry Pi OS trixie, on top of what every
 * release gets (customize.ts): netplan's hand-everything-to-NetworkManager file, cloud-init's
 * NoCloud settings, zram swap and deb822 apt sources. The seed files themselves are on the boot
 * partition (bootfs.ts).
 */
import { access, rm } from 'node:fs/promises'
import { join } from 'node:path'
import * as text from './content-trixie.ts'
import { writeRootFile } from './rootfiles.ts'

/** Keyrings apt may verify Debian with, newest name first (trixie's keyring package ships `.pgp`). */
const KEYRINGS = ['/usr/share/keyrings/debian-archive-keyring.pgp', '/usr/share/keyrings/debian-archive-keyring.gpg']

export async function makeTrixieLike(root: string, mirror: string): Promise<void> {
  await writeRootFile(root, text.NETPLAN_PATH, text.NETPLAN_NM_ALL)
  await writeRootFile(root, text.CLOUD_CFG_PATH, text.CLOUD_CFG)
  await writeRootFile(root, text.ZRAM_PATH, text.ZRAM_CONF)
  await writeRootFile(root, text.APT_SOURCES_PATH, text.debianSources(mirror, await keyring(root)))
  await rm(join(root, 'etc/apt/sources.list'), { force: true })
}

async function keyring(root: string): Promise<string> {
  for (const path of KEYRINGS) if (await access(join(root, path)).then(() => true, () => false)) return path
  return KEYRINGS[1]!
}
