/**
 * A temporary folder for a netboot test that dnsmasq (running as user `dnsmasq`) can read: a fake
 * published TFTP tree shaped like pibake's publish step makes it (`builds/<recipe>/<id>/<mac-dir>/…`
 * with `<mac-dir>` at the root a symlink to it, or a plain directory), directories 0755, files 0644.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { macDir } from '../../src/netboot/layout.ts'

export interface NodeFiles {
  readonly cmdline: Buffer
  readonly kernel: Buffer
}

export interface NetbootDir {
  readonly dir: string
  readonly tftpRoot: string
  /** Writes a file under `dir`, world-readable, making its folders. */
  write(relative: string, content: string | Buffer): string
  /** Publishes a node's `cmdline.txt` and `kernel8.img` (random bytes); `link` makes the MAC dir a symlink into builds/. */
  publishNode(mac: string, options?: { link?: boolean; kernelBytes?: number }): NodeFiles
  remove(): void
}

export function netbootDir(): NetbootDir {
  const dir = mkdtempSync(join(tmpdir(), 'pibake-netboot-'))
  chmodSync(dir, 0o755)
  const tftpRoot = join(dir, 'tftp')
  mkdirs(dir, tftpRoot)

  function write(relative: string, content: string | Buffer): string {
    const path = join(dir, relative)
    mkdirs(dir, dirname(path))
    writeFileSync(path, content)
    chmodSync(path, 0o644)
    return path
  }

  function publishNode(mac: string, options: { link?: boolean; kernelBytes?: number } = {}): NodeFiles {
    const name = macDir(mac)
    const files = {
      cmdline: Buffer.from(`console=serial0,115200 root=/dev/nfs nfsroot=10.77.0.2:/srv/nfs/cluster/builds/b1,vers=3 ip=dhcp rootwait ro mac=${mac}\n`),
      kernel: randomBytes(options.kernelBytes ?? 256 * 1024 + 77),
    }
    const home = options.link ? join('tftp', 'builds', 'cluster', 'b1', name) : join('tftp', name)
    write(join(home, 'cmdline.txt'), files.cmdline)
    write(join(home, 'kernel8.img'), files.kernel)
    if (options.link) symlinkSync(join('builds', 'cluster', 'b1', name), join(tftpRoot, name))
    return files
  }

  // Also gone when an interrupted test exits early (see TestLan's signal handling).
  const remove = () => rmSync(dir, { recursive: true, force: true })
  process.once('exit', remove)
  return {
    dir,
    tftpRoot,
    write,
    publishNode,
    remove() {
      process.off('exit', remove)
      remove()
    },
  }
}

/** Makes `path` and its missing parents below `base`, each 0755 whatever the umask. */
function mkdirs(base: string, path: string): void {
  mkdirSync(path, { recursive: true })
  for (let p = path; p.startsWith(base) && p !== base; p = dirname(p)) chmodSync(p, 0o755)
}
