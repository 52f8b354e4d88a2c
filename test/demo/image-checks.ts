/**
 * The demo images checked with the same tools a person would use: sfdisk, mtools, debugfs, e2fsck,
 * xz. Nothing is mounted. Each build's output goes to out/demo/build-<arch>.log
 * (build-trixie-<arch>.log) with timestamps. test/demo/image.test.ts (the suite) and
 * image-more.test.ts (the wide tier) say which images.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AWKWARD_DIR, CAPABILITY_FILE, DEMO_LABEL_ID, ETC_LINK, buildDemoImage, type DemoImage, type DemoRelease } from '../../src/demo/build.ts'
import { sha256File } from '../../src/demo/disk.ts'
import { listInitramfs } from '../../src/demo/initramfs.ts'
import type { DemoArch } from '../../src/demo/spec.ts'
import { exec } from '../../src/system/exec.ts'

const outDir = join(import.meta.dirname, '../../out/demo')
const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: '1' }

interface Part { node: string; start: number; size: number; type: string }

/** One build (or reuse) per image and test file; a failed build fails every test of that image at once. */
const images = new Map<string, Promise<DemoImage>>()

function demo(arch: DemoArch, release: DemoRelease = 'bookworm'): Promise<DemoImage> {
  let image = images.get(`${release}-${arch}`)
  if (!image) {
    image = buildLogged(arch, release)
    images.set(`${release}-${arch}`, image)
  }
  return image
}

function logName(arch: DemoArch, release: DemoRelease): string {
  return join(outDir, release === 'bookworm' ? `build-${arch}.log` : `build-${release}-${arch}.log`)
}

async function buildLogged(arch: DemoArch, release: DemoRelease): Promise<DemoImage> {
  mkdirSync(outDir, { recursive: true })
  const log = logName(arch, release)
  writeFileSync(log, '')
  const started = Date.now()
  const onLine = (line: string) => appendFileSync(log, `${((Date.now() - started) / 1000).toFixed(1).padStart(7)} ${line}\n`)
  const image = await buildDemoImage({ arch, release, outDir, onLine }).catch((error: unknown) => {
    onLine(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    if (error instanceof Error && error.cause) onLine(`cause: ${String(error.cause)}`)
    throw error
  })
  onLine(`${image.cached ? 'reused' : 'built'} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return image
}

async function partitions(img: string): Promise<{ label: string; id: string; parts: Part[] }> {
  const { stdout } = await exec(['sfdisk', '--json', img])
  const table = (JSON.parse(stdout) as { partitiontable: { label: string; id: string; partitions: Part[] } }).partitiontable
  return { label: table.label, id: table.id, parts: table.partitions }
}

async function offsets(img: string): Promise<{ boot: number; root: number }> {
  const { parts } = await partitions(img)
  return { boot: (parts[0]?.start ?? 0) * 512, root: (parts[1]?.start ?? 0) * 512 }
}

async function mtype(img: string, path: string): Promise<string> {
  const { boot } = await offsets(img)
  return (await exec(['mtype', '-i', `${img}@@${boot}`, `::${path}`], { env: MTOOLS_ENV })).stdout
}

/** What a reuse of an image may read: far less than the image or its .xz. */
const CACHED_READ_LIMIT = 64 * 1024 * 1024

/** Bytes this process has read so far, page cache included (`rchar` of /proc/self/io). */
async function bytesRead(): Promise<number> {
  return Number(/^rchar: (\d+)$/m.exec(await readFile('/proc/self/io', 'utf8'))?.[1] ?? Number.NaN)
}

/** The kernel version whose modules an initramfs holds (`usr/lib/modules/<version>/…` or `lib/modules/…`). */
function kernelOf(files: readonly string[]): string {
  return files.map((f) => /^(?:usr\/)?lib\/modules\/([^/]+)\//.exec(f)?.[1]).find(Boolean) ?? ''
}

async function debugfs(img: string, request: string): Promise<string> {
  const { root } = await offsets(img)
  return (await exec(['debugfs', '-R', request, `${img}?offset=${root}`])).stdout
}

/**
 * The tests of each image given: it is built once (or reused while its inputs are unchanged), then
 * checked. The caller runs them (test.run()).
 */
export function testImages(images: readonly (readonly [DemoRelease, DemoArch])[]): void {
  for (const [release, arch] of images) testImage(release, arch)
}

function testImage(release: DemoRelease, arch: DemoArch): void {
  const name = release === 'bookworm' ? arch : `${release} ${arch}`
  const stem = release === 'bookworm' ? `raspios-demo-${arch}` : `raspios-demo-${release}-${arch}`
  test(`${name}: builds or reuses the image, its .xz and .sha256`, async () => {
    const image = await demo(arch, release)
    assert.is(image.img, join(outDir, `${stem}.img`))
    assert.is(image.release, release)
    assert.is(image.xz, `${image.img}.xz`)
    assert.is(image.sha256File, `${image.xz}.sha256`)
    assert.is(await readFile(image.sha256File, 'utf8'), `${image.sha256}  ${stem}.img.xz\n`)
  })

  test(`${name}: MBR with FAT32 boot at 8192 and a Linux root, fixed label-id`, async () => {
    const { label, id, parts } = await partitions((await demo(arch, release)).img)
    assert.is(label, 'dos')
    assert.is(id, `0x${DEMO_LABEL_ID}`)
    assert.is(parts.length, 2)
    assert.is(parts[0]?.type, 'c')
    assert.is(parts[0]?.start, 8192)
    assert.is(parts[0]?.size, 512 * 2048)
    assert.is(parts[1]?.type, '83')
    assert.is(parts[1]?.start, 8192 + 512 * 2048)
  })

  test(`${name}: boot partition has the firmware, config.txt and a Raspberry Pi OS cmdline.txt`, async () => {
    const { img } = await demo(arch, release)
    const { boot } = await offsets(img)
    const names = (await exec(['mdir', '-i', `${img}@@${boot}`, '-b', '::/'], { env: MTOOLS_ENV })).stdout.split('\n').map((l) => l.replace('::/', ''))
    for (const name of ['bootcode.bin', 'start4.elf', 'fixup4.dat', 'config.txt', 'cmdline.txt', 'bcm2711-rpi-4-b.dtb', 'LICENCE.broadcom']) {
      assert.ok(names.includes(name), `${name} in ${names.join(' ')}`)
    }
    const cmdline = await mtype(img, '/cmdline.txt')
    assert.is(cmdline.split('\n').filter(Boolean).length, 1, 'one line')
    for (const word of [`root=PARTUUID=${DEMO_LABEL_ID}-02`, 'init=/usr/lib/raspberrypi-sys-mods/firstboot', 'fsck.repair=yes', 'rootfstype=ext4', 'console=serial0,115200', 'rootwait']) {
      assert.ok(cmdline.split(/\s+/).includes(word), `${word} in ${cmdline}`)
    }
    const config = await mtype(img, '/config.txt')
    assert.match(config, /^auto_initramfs=1$/m)
    assert.match(config, /^dtoverlay=vc4-kms-v3d$/m)
    assert.match(config, /^\[all\]$/m)
    assert.is(/^arm_64bit=1$/m.test(config), arch === 'arm64')
  })

  const kernels = arch === 'arm64' ? [['kernel8.img', 'initramfs8'], ['kernel_2712.img', 'initramfs_2712']] : [['kernel7.img', 'initramfs7'], ['kernel7l.img', 'initramfs7l']]
  test(`${name}: kernel and an initramfs that can mount an NFS root`, async () => {
    const { img } = await demo(arch, release)
    const { boot } = await offsets(img)
    const dir = await mkdtemp(join(tmpdir(), 'pibake-demo-test-'))
    try {
      for (const [kernel, initramfs] of kernels as [string, string][]) {
        await exec(['mcopy', '-i', `${img}@@${boot}`, `::/${kernel}`, `::/${initramfs}`, dir], { env: MTOOLS_ENV })
        assert.ok((await stat(join(dir, kernel))).size > 4_000_000, `${kernel} size`)
        assert.ok((await stat(join(dir, initramfs))).size > 1_000_000, `${initramfs} size`)
      }
      const files = await listInitramfs(join(dir, kernels[0]?.[1] ?? ''))
      assert.ok(files.includes('scripts/nfs'), 'scripts/nfs')
      assert.ok(files.includes('usr/bin/nfsmount'), 'klibc nfsmount')
      // Trixie's modules are xz-compressed, and its kernel has virtio_pci built in.
      const builtin = await debugfs(img, `cat /usr/lib/modules/${kernelOf(files)}/modules.builtin`)
      for (const mod of ['nfs', 'nfsv3', 'virtio_net', 'virtio_pci']) {
        const inside = files.some((f) => new RegExp(`/${mod}\\.ko(\\.xz|\\.zst)?$`).test(f)) || builtin.includes(`/${mod}.ko\n`)
        assert.ok(inside, `${mod}.ko in the initramfs or built into the kernel`)
      }
      assert.ok(files.length < 1500, `a short module list, not MODULES=most (${files.length} files)`)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test(`${name}: root is laid out like Raspberry Pi OS`, async () => {
    const { img } = await demo(arch, release)
    const fstab = await debugfs(img, 'cat /etc/fstab')
    assert.match(fstab, new RegExp(`^PARTUUID=${DEMO_LABEL_ID}-02\\s+/\\s+ext4\\s+defaults,noatime\\s+0\\s+1$`, 'm'))
    assert.match(fstab, new RegExp(`^PARTUUID=${DEMO_LABEL_ID}-01\\s+/boot/firmware\\s+vfat\\s+defaults\\s+0\\s+2$`, 'm'))
    assert.match(await debugfs(img, 'stat /boot/firmware'), /Type: directory/)
    assert.is((await debugfs(img, 'cat /etc/hostname')).trim(), 'raspberrypi')
    assert.match((await debugfs(img, 'cat /etc/machine-id')).trim(), /^[0-9a-f]{32}$/)
    assert.match(await debugfs(img, 'cat /etc/passwd'), /^pi:x:1000:1000:.*:\/home\/pi:\/bin\/bash$/m)
    assert.match(await debugfs(img, 'cat /etc/shadow'), /^pi:\$6\$[^:]+:/m)
    assert.match(await debugfs(img, 'cat /etc/group'), /^sudo:x:27:.*\bpi\b/m)
    const ssh = await debugfs(img, 'ls -p /etc/ssh')
    for (const key of ['ssh_host_ed25519_key', 'ssh_host_rsa_key', 'ssh_host_ecdsa_key.pub']) assert.ok(ssh.includes(`/${key}/`), key)
    assert.match(await debugfs(img, 'stat /usr/lib/raspberrypi-sys-mods/firstboot'), /Mode:\s+0755/)
    const swap = release === 'bookworm' ? ['dphys-swapfile.service'] : []
    for (const unit of ['regenerate_ssh_host_keys.service', 'userconfig.service', ...swap]) {
      assert.match(await debugfs(img, `stat /etc/systemd/system/multi-user.target.wants/${unit}`), /Type: symlink/, unit)
    }
    if (release === 'bookworm') assert.match(await debugfs(img, 'cat /etc/dphys-swapfile'), /^CONF_SWAPSIZE=\d+$/m)
    assert.match(await debugfs(img, 'cat /etc/initramfs-tools/initramfs.conf'), /^MODULES=list$/m)
    assert.not.match(await debugfs(img, 'ls -p /var/cache/apt/archives'), /\.deb\//)
    assert.not.match(await debugfs(img, 'ls -p /etc/initramfs-tools'), /dpkg-dist/)
  })

  test(`${name}: root has the awkward entries real images have`, async () => {
    const { img } = await demo(arch, release)
    const a = await debugfs(img, `stat ${AWKWARD_DIR}/hardlink-a`)
    const b = await debugfs(img, `stat ${AWKWARD_DIR}/hardlink-b`)
    assert.is(/Inode: (\d+)/.exec(a)?.[1], /Inode: (\d+)/.exec(b)?.[1], 'hard links share an inode')
    assert.match(a, /Links: 2/)
    assert.match(await debugfs(img, `stat ${ETC_LINK}`), /Fast link dest: "\/etc"/)
    assert.match(await debugfs(img, `stat ${AWKWARD_DIR}/relative-link`), /Fast link dest: "hardlink-a"/)
    assert.match(await debugfs(img, 'stat /usr/bin/passwd'), /Mode:\s+04755/)
    assert.match(await debugfs(img, 'stat /dev/null'), /Type: character special/)
    assert.match(await debugfs(img, `stat ${AWKWARD_DIR}/null-device`), /Type: character special/)
    assert.match(await debugfs(img, `stat ${AWKWARD_DIR}/fifo`), /Type: FIFO/)
    assert.match(await debugfs(img, `ea_list ${CAPABILITY_FILE}`), /security\.capability/)
  })

  if (release === 'trixie') {
    test(`${name}: boots like Raspberry Pi OS trixie: NetworkManager through netplan, cloud-init, zram swap, deb822 sources`, async () => {
      const { img } = await demo(arch, release)
      assert.match(await debugfs(img, 'cat /usr/lib/netplan/00-network-manager-all.yaml'), /^ {2}renderer: NetworkManager$/m)
      assert.match(await debugfs(img, 'cat /etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg'), /seedfrom: file:\/\/\/boot\/firmware\//)
      assert.match(await debugfs(img, 'cat /etc/systemd/zram-generator.conf'), /^\[zram0\]$/m)
      const sources = await debugfs(img, 'cat /etc/apt/sources.list.d/debian.sources')
      assert.match(sources, /^Suites: trixie trixie-updates$/m)
      assert.match(sources, /^Signed-By: \/usr\/share\/keyrings\/debian-archive-keyring\.(pgp|gpg)$/m)
      assert.not.match(await debugfs(img, 'ls -p /etc/apt'), /\/sources\.list\//, 'no one-line sources.list')
      for (const program of ['/usr/sbin/NetworkManager', '/usr/bin/cloud-init', '/usr/sbin/netplan', '/usr/lib/systemd/system-generators/zram-generator']) {
        assert.match(await debugfs(img, `stat ${program}`), /Type: (regular|symlink)/, program)
      }
      assert.not.match(await debugfs(img, 'stat /etc/cloud/cloud-init.disabled'), /Type:/, 'cloud-init is enabled in the image')
      assert.match(await debugfs(img, 'stat /bin'), /Fast link dest: "usr\/bin"/, 'merged /usr')
      assert.match(await debugfs(img, 'cat /usr/lib/os-release'), /^VERSION_CODENAME=trixie$/m)
    })

    test(`${name}: the boot partition has the NoCloud seed, its first user from user-data`, async () => {
      const { img } = await demo(arch, release)
      assert.match(await mtype(img, '/user-data'), /^#cloud-config\n[^]*^users:\n {2}- name: pi$/m)
      assert.match(await mtype(img, '/meta-data'), /^instance-id: /m)
      assert.match(await mtype(img, '/network-config'), /^ {2}renderer: NetworkManager$/m)
    })

    if (arch === 'arm64') {
      test(`${name}: Debian's trixie kernel brings the Pi 5 device tree, beside kernel_2712.img`, async () => {
        const { img } = await demo(arch, release)
        const { boot } = await offsets(img)
        const names = (await exec(['mdir', '-i', `${img}@@${boot}`, '-b', '::/'], { env: MTOOLS_ENV })).stdout
        for (const file of ['bcm2712-rpi-5-b.dtb', 'kernel_2712.img', 'initramfs_2712']) assert.ok(names.includes(`::/${file}`), file)
      })
    }
  }

  test(`${name}: e2fsck finds the root clean`, async () => {
    const { img } = await demo(arch, release)
    const { root } = await offsets(img)
    await exec(['e2fsck', '-fn', `${img}?offset=${root}`])
  })

  test(`${name}: the .xz holds the same bytes as the .img, and the .sha256 matches the .xz`, async () => {
    const image = await demo(arch, release)
    const unpacked = (await exec(['sh', '-euc', 'xz -dc "$1" | sha256sum', 'sh', image.xz])).stdout.split(' ')[0]
    assert.is(unpacked, await sha256File(image.img))
    assert.is(await sha256File(image.xz), image.sha256)
    await exec(['sha256sum', '--check', '--status', image.sha256File], { cwd: outDir })
  })

  test(`${name}: a second call reuses the image`, async () => {
    const first = await demo(arch, release)
    const before = (await stat(first.img)).mtimeMs
    const started = performance.now()
    const readBefore = await bytesRead()
    const again = await buildDemoImage({ arch, release, outDir })
    const read = (await bytesRead()) - readBefore
    const seconds = (performance.now() - started) / 1000
    appendFileSync(logName(arch, release), `cached call: ${seconds.toFixed(2)} s, ${read} bytes read\n`)
    assert.ok(again.cached)
    assert.is(again.sha256, first.sha256)
    assert.is((await stat(first.img)).mtimeMs, before)
    // Reuse reads the manifest and the checksum file, not the image (1.4–1.7 GB) nor its .xz.
    assert.ok(read < CACHED_READ_LIMIT, `the cached call read ${read} bytes`)
  })
}

