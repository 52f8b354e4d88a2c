/**
 * A real published build for the boot tests: the demo image (built, or reused from out/demo) baked
 * by `build()` with a recipe like the demo's into a temporary out dir, plus an overlay that lets a
 * test key log in as root (`/root/.ssh/authorized_keys`). Everything is world-readable, as dnsmasq
 * (user `dnsmasq`) needs.
 *
 * The test key is one for every boot test, kept in out/test-boot-key: an overlay with the same
 * authorized_keys is the same layer, so builds into one out dir (`outDir`, kept under out/) share
 * their layers and the initramfs a root mode rebuilds (`<out>/cache/initramfs`).
 */
import { appendFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { build } from '../../src/build.ts'
import { clean } from '../../src/clean.ts'
import { buildDemoImage, type DemoRelease } from '../../src/demo/build.ts'
import { macDir } from '../../src/netboot/layout.ts'
import type { Node, Recipe, RecipeInput } from '../../src/recipe/types.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'
import { exec } from '../../src/system/exec.ts'
import { seedDecompressedImage } from '../helpers/demo-cache.ts'
import { leftBehind } from '../helpers/leftovers.ts'

const DEMO_DIR = join(import.meta.dirname, '../../out/demo')
const TEST_KEY_DIR = join(import.meta.dirname, '../../out/test-boot-key')

/** The fleet of the boot tests, on a network that exists only inside the tests' namespaces. */
export const FLEET = {
  server: '10.77.0.1',
  nfsServer: '10.77.0.2',
  dhcp: { mode: 'range', start: '10.77.0.100', end: '10.77.0.150', netmask: '255.255.255.0', router: '10.77.0.1' },
  nodes: [
    // An argument of its own each, so that each node's cmdline.txt differs from the other's.
    { hostname: 'boot-a', mac: 'dc:a6:32:00:b0:01', ip: '10.77.0.11', model: '4B', cmdline: ['pibake.node=boot-a'] },
    // Not a Pi 5: Debian's bookworm kernel has no bcm2712 device tree, so publish would warn.
    { hostname: 'boot-b', mac: 'e4:5f:01:00:b0:02', ip: '10.77.0.12', model: '4B', cmdline: ['pibake.node=boot-b'] },
  ],
} as const satisfies { dhcp: RecipeInput['netboot']['dhcp']; nodes: RecipeInput['nodes'] } & Record<string, unknown>

export interface PublishedBuild {
  readonly dir: string
  readonly out: string
  readonly recipe: Recipe
  /** Where the site's configuration was published (`<out>/publish`, or the boot server's folder). */
  readonly publish: string
  /** Where the NFS server's `exports` and `ganesha.conf` are (the NFS host's folder over SSH). */
  readonly nfsConfig: string
  readonly tftp: string
  /** `<nfs>/<recipe>`: builds/, nodes/, current. */
  readonly recipeDir: string
  readonly id: string
  /** The root tree of the build. */
  readonly root: string
  /** The folder the nodes share read-write (`netboot.shared.path`), when asked for. */
  readonly shared?: string
  /** Private key whose public half is in the root's /root/.ssh/authorized_keys. */
  readonly sshKey: string
  /** Seconds the build took, and the demo image (cached or not). */
  readonly seconds: { readonly image: number; readonly build: number }
  /** The recipe as written, and the overlay folder it names: a test changes either and builds again into `out`. */
  readonly input: RecipeInput
  readonly overlay: string
  nodeDir(node: Pick<Node, 'mac'>): string
  tftpDir(node: Pick<Node, 'mac'>): string
  remove(): Promise<void>
}

export interface PublishOptions {
  /** A shared folder (`<dir>/shared`, mounted at /shared on the nodes) that also serves the accounts. */
  readonly sharedAccounts?: boolean
  /** Another fleet than FLEET's DHCP and nodes (a proxy-mode fleet whose nodes have no fixed address). */
  readonly fleet?: { readonly dhcp: RecipeInput['netboot']['dhcp']; readonly nodes: RecipeInput['nodes'] }
  /** The demo image's release (default bookworm). */
  readonly release?: DemoRelease
  /** Files added to the root by the overlay: path in the image → content and mode. */
  readonly rootFiles?: Readonly<Record<string, { readonly content: string; readonly mode: number }>>
  /** A node published as another model than FLEET says, by hostname (a Pi 5 on trixie). */
  readonly models?: Readonly<Record<string, RecipeInput['nodes'][number]['model']>>
  /**
   * Publish over SSH instead of into `<out>/publish`: the root to the NFS host, the boot files and the
   * site's configuration to the boot server, each an sshd the test runs (in a namespace that shares
   * this machine's file system, so the trees are read where they arrived: under `<dir>/nfs-host` and
   * `<dir>/pxe-host`).
   */
  readonly ssh?: SshPublish
  /** `netboot.persist`: folders each node keeps on the NFS server. */
  readonly persist?: readonly string[]
  /** The nodes' root mode (`netboot.root`; default: left out, today's read-only NFS root). */
  readonly root?: NonNullable<RecipeInput['netboot']['root']>
  /** The demo image's architecture (default arm64). */
  readonly arch?: 'arm64' | 'armhf'
  /**
   * An out dir kept between tests and runs (under out/), shared by the recipes built into it: their
   * layers and caches are reused, their builds published there as one site. `remove()` leaves it.
   * Without it, a temporary out dir, removed with the rest.
   */
  readonly outDir?: string
}

export interface SshPublish {
  /** `root@address` of the NFS host's sshd, and of the boot server's. */
  readonly nfsHost: string
  readonly pxeHost: string
  /** The client's private key, authorized on both. */
  readonly identity: string
  /** A known_hosts file that trusts both. */
  readonly knownHosts: string
  /** A key that signs each build's record (`publish[].sign`). */
  readonly sign?: { readonly key: string }
}

/** Builds (or reuses) the demo image, then bakes and publishes it; no loop device or mount stays. */
export async function publishDemoBuild(name = 'boot-test', options: PublishOptions = {}): Promise<PublishedBuild> {
  const imageStarted = performance.now()
  const arch = options.arch ?? 'arm64'
  const image = await demoImage(options.release, arch)
  const imageSeconds = (performance.now() - imageStarted) / 1000
  const dir = await mkdtemp(join(tmpdir(), 'pibake-boot-'))
  // An interrupted test (Ctrl-C: the namespace helpers stop their servers, then exit) must not leave
  // a published root of ~1.7 GB in /tmp.
  const onExit = () => removeIfUnmounted(dir)
  process.once('exit', onExit)
  try {
    await chmod(dir, 0o755)
    const out = options.outDir ?? join(dir, 'out')
    const overlay = join(dir, 'overlay')
    const sshKey = await testKey()
    await mkdir(join(overlay, 'rootfs/root/.ssh'), { recursive: true })
    await chmod(join(overlay, 'rootfs/root'), 0o700)
    await chmod(join(overlay, 'rootfs/root/.ssh'), 0o700)
    await writeFile(join(overlay, 'rootfs/root/.ssh/authorized_keys'), await readFile(`${sshKey}.pub`), { mode: 0o600 })
    for (const [path, file] of Object.entries(options.rootFiles ?? {})) {
      await mkdir(dirname(join(overlay, 'rootfs', path)), { recursive: true })
      await writeFile(join(overlay, 'rootfs', path), file.content)
      await chmod(join(overlay, 'rootfs', path), file.mode)
    }
    const shared = options.sharedAccounts ? join(dir, 'shared') : undefined
    if (shared) await mkdir(shared, { mode: 0o755 })
    const where = options.ssh
      ? { nfs: join(dir, 'nfs-host/srv/pibake'), tftp: join(dir, 'pxe-host/srv/tftp'), config: join(dir, 'pxe-host/etc/pibake') }
      : { nfs: join(out, 'publish/nfs'), tftp: join(out, 'publish/tftp'), config: join(out, 'publish') }
    const remote = options.ssh
    const ssh = remote && ((host: string, path: string) => ({ host, path, identity: remote.identity, knownHosts: remote.knownHosts }))
    const input: RecipeInput = {
      name,
      image: { path: image.xz, sha256: image.sha256File, arch },
      overlays: [overlay],
      netboot: {
        server: FLEET.server,
        dhcp: options.fleet ? options.fleet.dhcp : { ...FLEET.dhcp },
        nfs: { server: FLEET.nfsServer, ...(remote ? { path: where.nfs } : {}) },
        ...(shared ? { shared: { path: shared, mount: '/shared', accounts: true } } : {}),
        ...(options.persist ? { persist: [...options.persist] } : {}),
        ...(options.root ? { root: options.root } : {}),
      },
      nodes: options.fleet?.nodes ?? FLEET.nodes.map((node) => ({ ...node, model: options.models?.[node.hostname] ?? node.model, cmdline: [...node.cmdline] })),
      ...(remote && ssh
        ? { publish: [{ nfs: ssh(remote.nfsHost, where.nfs), tftp: ssh(remote.pxeHost, where.tftp), config: ssh(remote.pxeHost, where.config), ...(remote.sign ? { sign: remote.sign } : {}) }] }
        : {}),
    }
    const recipe = validateRecipe(input, join(dir, 'recipe.ts'), { outDir: out })
    await seedDecompressedImage(out, image)
    const started = performance.now()
    await build(recipe, { outDir: out })
    const buildSeconds = (performance.now() - started) / 1000
    const left = [...await leftBehind(dir), ...(options.outDir ? await leftBehind(out) : [])]
    if (left.length) throw new Error(`the build left loop devices or mounts behind:\n${left.join('\n')}`)
    const recipeDir = join(where.nfs, name)
    const id = (await readlink(join(recipeDir, 'current'))).replace(/^builds\//, '')
    return {
      dir,
      out,
      recipe,
      publish: where.config,
      nfsConfig: remote ? where.nfs : where.config,
      tftp: where.tftp,
      recipeDir,
      id,
      root: join(recipeDir, 'builds', id),
      ...(shared ? { shared } : {}),
      sshKey,
      seconds: { image: imageSeconds, build: buildSeconds },
      input,
      overlay,
      nodeDir: (node) => join(recipeDir, 'nodes', macDir(node.mac)),
      tftpDir: (node) => join(where.tftp, macDir(node.mac)),
      async remove() {
        process.off('exit', onExit)
        await removeProject(dir, options.outDir ? undefined : out)
      },
    }
  } catch (error) {
    process.off('exit', onExit)
    await removeProject(dir, options.outDir ? undefined : join(dir, 'out'))
    throw error
  }
}

/** The boot tests' key (out/test-boot-key/id_test), made by the first test that needs it; racers keep the first one renamed into place. */
async function testKey(): Promise<string> {
  const key = join(TEST_KEY_DIR, 'id_test')
  if (await readFile(`${key}.pub`).then(() => true, () => false)) return key
  await mkdir(dirname(TEST_KEY_DIR), { recursive: true })
  const made = await mkdtemp(`${TEST_KEY_DIR}.new-`)
  try {
    await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'pibake-boot-test', '-f', join(made, 'id_test')])
    await rename(made, TEST_KEY_DIR).catch((error: NodeJS.ErrnoException) => {
      // Another test made it first (rename onto a folder that is not empty fails): use that one.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error
    })
  } finally {
    await rm(made, { recursive: true, force: true })
  }
  return key
}

/** Synchronous, for the exit event: removes the folder unless something is still mounted in it. */
function removeIfUnmounted(dir: string): void {
  const mounted = readFileSync('/proc/self/mounts', 'utf8').split('\n').some((line) => line.split(' ')[1]?.startsWith(`${dir}/`))
  if (mounted) process.stderr.write(`${dir} is left behind: something is still mounted in it (pibake clean ${join(dir, 'out')})\n`)
  else rmSync(dir, { recursive: true, force: true })
}

/** Removes the test's folder, after cleaning its own out dir (`out`; none for a kept one). */
async function removeProject(dir: string, out: string | undefined): Promise<void> {
  if (out) await clean(out)
  await rm(dir, { recursive: true, force: true })
}

/** A demo image from out/demo (reused while its inputs are unchanged), its build logged beside it. */
async function demoImage(release: DemoRelease = 'bookworm', arch: 'arm64' | 'armhf' = 'arm64') {
  mkdirSync(DEMO_DIR, { recursive: true })
  const log = join(DEMO_DIR, release === 'bookworm' ? `build-${arch}-boot-test.log` : `build-${release}-${arch}-boot-test.log`)
  const started = Date.now()
  const onLine = (line: string) => appendFileSync(log, `${((Date.now() - started) / 1000).toFixed(1).padStart(7)} ${line}\n`)
  return buildDemoImage({ arch, release, outDir: DEMO_DIR, onLine })
}
