/**
 * Whether the kernel that goes with each initramfs can unpack it once it is xz: the kernel's own
 * build configuration (`/boot/config-<version>` in the image, as Debian and Raspberry Pi OS install
 * it) must say `CONFIG_RD_XZ=y`, or the node stops at "Initramfs unpacking failed". Which kernel an
 * initramfs boot file belongs to is read from the image: the boot file is a copy of its
 * `/boot/initrd.img-<version>`. One that is a copy of none is checked against every kernel's config.
 */
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { StageError } from '../errors.ts'
import { resolveInRoot } from '../system/inroot.ts'
import { INITRAMFS, isGzip } from './boot-files.ts'

const HINT = "leave netboot.shrinkBoot out (the initramfs is then published as the image has it), or install a kernel built with CONFIG_RD_XZ=y"

/**
 * Refuses, naming the file, each gzip initramfs of `boot` (the ones shrinking recompresses) whose
 * kernel's config in `root` lacks `CONFIG_RD_XZ=y` or cannot be found.
 */
export async function requireXzInitramfs(root: string, boot: string): Promise<void> {
  const dir = await resolveInRoot(root, '/boot', { followLast: true })
  const names = await readdir(dir).catch(() => [] as string[])
  const configs = names.filter((n) => /^config-\S+$/.test(n)).sort()
  const byDigest = new Map<string, string>()
  for (const name of names.filter((n) => /^initrd\.img-\S+$/.test(n))) {
    const bytes = await readFile(join(dir, name)).catch(() => undefined)
    if (bytes) byDigest.set(digest(bytes), name.slice('initrd.img-'.length))
  }
  const present = new Set(await readdir(boot))
  for (const file of INITRAMFS) {
    if (!present.has(file)) continue
    const bytes = await readFile(join(boot, file))
    if (!isGzip(bytes)) continue
    const version = byDigest.get(digest(bytes))
    const checked = version !== undefined && configs.includes(`config-${version}`) ? [`config-${version}`] : configs
    const whose = version === undefined ? 'its kernel (it is a copy of no /boot/initrd.img-<version>)' : `its kernel ${version}`
    if (!checked.length) throw new StageError('netboot', `netboot.shrinkBoot: cannot tell whether ${whose} unpacks ${file} once it is xz: the image has no /boot/config-* to say CONFIG_RD_XZ=y`, HINT)
    for (const config of checked) {
      const line = rdXz(await readFile(join(dir, config), 'utf8'))
      if (line !== 'CONFIG_RD_XZ=y') throw new StageError('netboot', `netboot.shrinkBoot: ${whose} cannot unpack ${file} once it is xz: /boot/${config} has ${line ? `"${line}"` : 'no CONFIG_RD_XZ line'}`, HINT)
    }
  }
}

/** The config's CONFIG_RD_XZ line (`CONFIG_RD_XZ=y`, `# CONFIG_RD_XZ is not set`), if it has one. */
function rdXz(text: string): string | undefined {
  return /^(?:CONFIG_RD_XZ=.*|# CONFIG_RD_XZ is not set)$/m.exec(text)?.[0]
}

function digest(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}
