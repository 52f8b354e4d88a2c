/**
 * A recipe file on the demo image with customize steps, written as a person would write it (so
 * that steps have recipe lines), beside the files its steps copy and run; and an out folder whose
 * apt cache and decompressed images outlive test runs, while everything else starts afresh.
 */
import type { Test } from 'uvu'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from '../../src/build.ts'
import { clean } from '../../src/clean.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import type { Diff } from '../../src/snapshot/index.ts'
import { fileSha256 } from '../../src/stages/image.ts'
import type { DemoRelease } from '../../src/demo/build.ts'
import { REPO, demoImage } from './demo-root.ts'

export const OUT = join(REPO, 'out/test-customize')

export const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDlsouObi3HAMOCr5hAV9Eg5KhkzHwRrYTcMYcUrpW3p alice@laptop'
/** `openssl passwd -6 -salt pibake.test secret` */
export const HASH = '$6$pibake.test$m9Sya/lqhIswhx6NKLPcEonz4ViXK45SYk/wpbVJ9fVZrBOr7CvDDVZFTU2w7zlFrUMwl2uJGMUWdzbBu9w3j.'

export interface RecipeProject {
  readonly dir: string
  readonly file: string
  readonly text: string
  /** The recipe line holding `needle` (1-based). */
  lineOf(needle: string): number
  build(options?: { refresh?: boolean; force?: readonly string[] | true; skip?: readonly string[] }): Promise<BuildEvent[]>
  /**
   * The recipe edited to `text`, as a new file beside the first (Node keeps a module it imported
   * once: the same path would load the first text again); later builds build that file.
   */
  rewrite(text: string): Promise<void>
  remove(): Promise<void>
}

/** Removes what earlier test runs left in the out folder `out`, except the apt cache and the checksums. */
export async function freshOut(out = OUT): Promise<void> {
  await clean(out)
  for (const name of await readdir(out).catch(() => [] as string[])) if (name !== 'cache') await rm(join(out, name), { recursive: true, force: true })
  await rm(join(out, 'cache/images'), { recursive: true, force: true })
}

export interface ProjectOptions {
  /**
   * The recipe's one node's MAC (its TFTP folder is `publish/tftp/<mac with dashes>`); the node is
   * named and addressed after it: the recipes of these tests share one site, where a node belongs to
   * one recipe. Default dc:a6:32:00:00:01.
   */
  readonly mac?: string
  /** The out folder its builds use (default OUT, shared by the suites that share its site). */
  readonly out?: string
  /** The demo image's release (default bookworm). */
  readonly release?: DemoRelease
}

/** `steps` is the source text of the customize list's items, one step per line or more. */
export async function recipeProject(name: string, arch: 'arm64' | 'armhf', steps: string, options: ProjectOptions = {}): Promise<RecipeProject> {
  const { mac = 'dc:a6:32:00:00:01', out = OUT, release = 'bookworm' } = options
  // The demo's raw .img (not its .xz): no 1.7 GB decompressed copy per demo image in the cache.
  const image = (await demoImage(arch, release)).img
  const sha256 = await fileSha256(image, join(out, 'cache/checksums.json'))
  const dir = await mkdtemp(join(tmpdir(), `pibake-${name}-`))
  await mkdir(join(dir, 'files'), { recursive: true })
  await writeFile(join(dir, 'files/hello.service'), HELLO_SERVICE)
  await writeFile(join(dir, 'files/setup.sh'), SETUP_SCRIPT)
  await chmod(join(dir, 'files/setup.sh'), 0o644)
  const text = recipeText(name, image, sha256, steps, mac)
  let file = join(dir, 'recipe.ts')
  await writeFile(file, text)
  let edits = 0
  return {
    dir,
    get file() {
      return file
    },
    text,
    lineOf: (needle) => text.split('\n').findIndex((line) => line.includes(needle)) + 1,
    build: async (options = {}) => {
      const events: BuildEvent[] = []
      await build(file, { outDir: out, onEvent: (e) => events.push(e), ...options })
      return events
    },
    rewrite: async (next) => {
      file = join(dir, `recipe-${++edits}.ts`)
      await writeFile(file, next)
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}

function recipeText(name: string, image: string, sha256: string, steps: string, mac: string): string {
  return `// A diskless node on the demo image, customised.
export default {
  name: ${JSON.stringify(name)},
  image: { path: ${JSON.stringify(image)}, sha256: ${JSON.stringify(sha256)} },
  netboot: { server: '10.99.0.1', dhcp: { mode: 'proxy', network: '10.99.0.0' }, nfs: { server: '10.99.0.2' } },
  nodes: [{ hostname: ${JSON.stringify(nodeName(mac))}, mac: ${JSON.stringify(mac)}, ip: ${JSON.stringify(nodeIp(mac))}, model: '4B' }],
  customize: [
${steps}
  ],
}
`
}

/** `node-01` and 10.99.0.101 for a MAC ending in :01. */
function nodeName(mac: string): string {
  return `node-${mac.slice(-2)}`
}

function nodeIp(mac: string): string {
  return `10.99.0.${100 + Number.parseInt(mac.slice(-2), 16)}`
}

const HELLO_SERVICE = `[Unit]
Description=Says hello at boot

[Service]
Type=oneshot
ExecStart=/bin/echo hello

[Install]
WantedBy=multi-user.target
`

/** No #! line on purpose: it is run by /bin/sh. */
const SETUP_SCRIPT = `set -eu
echo "script ran as $(id -u) with $# argument(s): $*" > /etc/pibake-script
`

export { leftBehind } from '../helpers/leftovers.ts'

/** Stage statuses from a build's plan event. */
export function statuses(events: readonly BuildEvent[]): Record<string, string> {
  return Object.fromEntries(events.flatMap((e) => (e.type === 'plan' ? e.stages.map((s) => [s.name, s.status]) : [])))
}

/**
 * Registers a build suite's hooks: a fresh OUT before (freshOut), and the recipe projects pushed to
 * the returned list removed after.
 */
export function projectsOf(suite: Test): RecipeProject[] {
  const projects: RecipeProject[] = []
  suite.before(() => freshOut())
  suite.after(async () => {
    for (const project of projects) await project.remove()
  })
  return projects
}

/** Traces the chroot machinery would leave: policy-rc.d, resolv.conf or ld.so.preload not as in the image, qemu, apt lists or archives, host libraries, runtime folders. */
const MACHINERY = /policy-rc\.d|^\/etc\/resolv\.conf$|^\/etc\/ld\.so\.preload|qemu|pibake-aside|^\/var\/lib\/apt\/lists|^\/var\/cache\/apt|^\/(run|tmp|proc|sys|dev)\/|^\/lib64|^\/usr\/lib\/x86_64/
/** What a package install may legitimately change outside the packages' own files. */
const PACKAGE_STATE = [/^\/var\/lib\/dpkg\//, /^\/var\/lib\/systemd\/deb-systemd-helper-/, /^\/var\/lib\/apt\/extended_states$/, /^\/var\/log\/(apt|dpkg|alternatives)/, /^\/var\/cache\/debconf\//, /^\/etc\/ld\.so\.cache$/]
/** Mount points the netboot stage adds for its tmpfs. */
const NETBOOT = [/^\/var\/lib\/(dhcp|dhcpcd|logrotate)$/]

/**
 * Of the paths a build changed from the image (`diff`, the image's root against the published
 * one): the chroot machinery's traces, and what lies outside /usr, /etc, `home`, the package state
 * and the netboot stage's mount points. A clean customised build has neither.
 */
export function strayChanges(diff: Diff, home: string): { readonly machinery: string[]; readonly elsewhere: string[] } {
  const touched = touchedPaths(diff)
  const expected = [/^\/usr\//, /^\/etc\//, new RegExp(`^${home}(/|$)`), ...PACKAGE_STATE, ...NETBOOT]
  return { machinery: touched.filter((path) => MACHINERY.test(path)), elsewhere: touched.filter((path) => !expected.some((re) => re.test(path))) }
}

/** Every path the build touched: added, changed or removed. */
function touchedPaths(diff: Diff): string[] {
  return [...diff.added, ...diff.changed, ...diff.removed].map((c) => c.path)
}

/**
 * The paths a package owns in the tree `root`, from its dpkg file list (`/var/lib/dpkg/info/<name>.list`,
 * or `<name>:<arch>.list` for a Multi-Arch: same package), as `dpkg -L` prints them, without `/.`.
 */
export async function packageFiles(root: string, name: string): Promise<string[]> {
  const info = join(root, 'var/lib/dpkg/info')
  const lists = (await readdir(info)).filter((f) => f === `${name}.list` || (f.startsWith(`${name}:`) && f.endsWith('.list')))
  if (lists.length !== 1) throw new Error(`${name}: ${lists.length} dpkg file lists in ${info}, not one`)
  return (await readFile(join(info, lists[0] ?? ''), 'utf8')).split('\n').filter((path) => path && path !== '/.')
}

/**
 * Of the paths a build changed from the image (`diff`), those `expected` does not list: a clean
 * build has none.
 */
export function unexpectedChanges(diff: Diff, expected: Iterable<string>): string[] {
  const allowed = new Set(expected)
  return touchedPaths(diff).filter((path) => !allowed.has(path))
}
