/**
 * Maintainer scripts with this host's shell and core programs, when they are the image's own.
 *
 * Under qemu-user every program a maintainer script starts costs some 45 ms of CPU before it does
 * anything, and scripts start thousands (ca-certificates' postinst starts `sed`, `basename`, `ln`…
 * for each of its certificates). When this host's dash, coreutils, sed, grep and findutils are the
 * very versions the image has — the same Debian packages, built for this machine's architecture —
 * the packages steps mount them over the image's programs (and this host's libraries and loader at
 * the paths an arm image lacks) for the time of apt's dpkg run: the scripts' shell and the programs
 * they start most run natively, the rest (dpkg, perl, the packages' own programs) stays emulated.
 * `node bench/apt-phases.ts` measured the configure phase of 22 packages at 8.7 s of CPU instead of
 * 87 s, and the tree it made equal to the emulated one (dpkg's and update-alternatives' logs and
 * ldconfig's aux-cache aside, which differ between any two runs).
 *
 * A package whose version differs keeps the image's programs (emulated), and so does one the apt
 * run itself installs, upgrades or removes (dpkg cannot replace a program mounted over); a host without dpkg, a
 * host that is not x86-64, or an image that has those library paths itself: everything stays
 * emulated. The step says which, and why. `PIBAKE_HOST_TOOLS=0`
 * turns it off. Programs that tell the machine apart stay the image's: `uname` and `arch` report
 * the emulated machine, `stdbuf` preloads a library of the image's architecture.
 */
import { lstat, mkdir, readFile, realpath, rmdir, utimes } from 'node:fs/promises'
import type { Bind } from '../system/chroot.ts'
import type { Cleanup } from '../system/cleanup.ts'
import { exec } from '../system/exec.ts'
import { resolveInRoot } from '../system/inroot.ts'

export const HOST_TOOL_PACKAGES = ['dash', 'coreutils', 'sed', 'grep', 'findutils'] as const

/** Programs that report the machine they run on, or load a library of the image's architecture. */
const IMAGE_ONLY = new Set(['uname', 'arch', 'stdbuf'])

/** Where an x86-64 program finds its loader (its PT_INTERP) and libraries. */
const X64_FOLDERS = ['/lib64', '/usr/lib/x86_64-linux-gnu'] as const

export type HostTools =
  | {
      readonly use: true
      /** Each package's programs, mounted over the image's. */
      readonly programs: ReadonlyMap<string, readonly Bind[]>
      /** The host's loader and libraries, which those programs need. */
      readonly libraries: readonly Bind[]
      readonly folders: readonly string[]
      /** The version (the host's and the image's) of each package whose programs are this host's. */
      readonly versions: ReadonlyMap<string, string>
      /** Why each other package's programs stay the image's. */
      readonly emulated: readonly string[]
    }
  | { readonly use: false; readonly why: string }

/**
 * Whether the maintainer scripts of a step on the image at `root` can use this host's tools, and
 * the binds that do it: the programs of each package whose version is the image's (the others stay
 * the image's, emulated), and the library folders.
 */
export async function hostTools(root: string, hostArch: string = process.arch, env: NodeJS.ProcessEnv = process.env): Promise<HostTools> {
  if (env.PIBAKE_HOST_TOOLS === '0') return { use: false, why: 'PIBAKE_HOST_TOOLS=0' }
  if (hostArch !== 'x64') return { use: false, why: `this host is ${hostArch}, not x86-64` }
  const host = await hostVersions()
  if (!host) return { use: false, why: 'this host has no dpkg-query to tell its versions' }
  for (const folder of X64_FOLDERS) {
    if (await lstat(await resolveInRoot(root, folder)).catch(() => undefined)) return { use: false, why: `the image has ${folder} itself` }
  }
  const image = await imageVersions(root)
  const same = HOST_TOOL_PACKAGES.filter((name) => host.has(name) && host.get(name) === image.get(name))
  const emulated = HOST_TOOL_PACKAGES.filter((name) => !same.includes(name)).map((name) => `the image's ${name} is ${image.get(name) ?? 'not installed'}, this host's ${host.get(name) ?? 'not installed'}`)
  if (!same.length) return { use: false, why: emulated.join('; ') }
  const programs = new Map<string, Bind[]>()
  const done = new Set<string>()
  for (const pkg of same) {
    const binds: Bind[] = []
    const { stdout } = await exec(['dpkg-query', '--listfiles', pkg])
    for (const listed of new Set(stdout.split('\n').filter((path) => /^\/(usr\/)?s?bin\/[^/]+$/.test(path)))) {
      const name = listed.slice(listed.lastIndexOf('/') + 1)
      if (IMAGE_ONLY.has(name) || done.has(name)) continue
      const source = await realpath(listed).catch(() => undefined)
      if (!source || !(await isFile(source))) continue
      for (const dir of ['/usr/bin', '/usr/sbin', '/bin', '/sbin']) {
        // The image's own program of that name, a file (sh, a link to dash, goes with dash).
        if (!(await isFile(await resolveInRoot(root, `${dir}/${name}`)))) continue
        binds.push({ source, target: `${dir}/${name}`, readOnly: true })
        done.add(name)
        break
      }
    }
    programs.set(pkg, binds)
  }
  const libraries: Bind[] = []
  for (const folder of X64_FOLDERS) libraries.push({ source: await realpath(folder), target: folder, readOnly: true })
  return { use: true, programs, libraries, folders: X64_FOLDERS, versions: new Map(same.map((name) => [name, host.get(name)!])), emulated }
}

/**
 * The binds for an apt run that installs, upgrades or removes the packages `touched` (from its
 * simulation), and the line that says what runs natively: dpkg cannot replace a program something
 * is mounted over, so a package the run changes keeps the image's programs. No binds when no
 * package's programs are left to mount.
 */
export function toolBinds(tools: HostTools & { use: true }, touched: ReadonlySet<string>): { binds: Bind[]; message: string } {
  const kept = [...tools.programs.keys()].filter((pkg) => !touched.has(pkg))
  const emulated = [...tools.emulated, ...[...tools.programs.keys()].filter((pkg) => touched.has(pkg)).map((pkg) => `this run changes ${pkg}`)]
  if (!kept.length) return { binds: [], message: `maintainer scripts run emulated: ${emulated.join('; ')}` }
  const native = kept.map((pkg) => `${pkg} ${tools.versions.get(pkg)}`).join(', ')
  return {
    binds: [...kept.flatMap((pkg) => tools.programs.get(pkg) ?? []), ...tools.libraries],
    message: `maintainer scripts run this host's ${native} (the image's own versions), the rest emulated${emulated.length ? `; emulated too: ${emulated.join('; ')}` : ''}`,
  }
}

/** The packages an `apt-get -s` run would install, upgrade or remove (its `Inst`, `Remv` and `Purg` lines; `:arch` dropped). */
export function touchedPackages(simulation: string): Set<string> {
  return new Set([...simulation.matchAll(/^(?:Inst|Remv|Purg) ([^\s:]+)/gm)].map((m) => m[1]!))
}

/**
 * Makes the library folders the binds mount on, in the image, for the time of the step: removed
 * afterwards, and the folders they were made in get their modification time back.
 */
export async function makeMountFolders(root: string, folders: readonly string[], undo: Cleanup): Promise<void> {
  for (const folder of folders) {
    const target = await resolveInRoot(root, folder)
    const parent = target.slice(0, target.lastIndexOf('/'))
    const before = await lstat(parent)
    await mkdir(target)
    undo.defer(`remove ${folder} from the image`, async () => {
      await rmdir(target)
      await utimes(parent, before.atime, before.mtime)
    })
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isFile() ?? false
}

async function hostVersions(): Promise<Map<string, string> | undefined> {
  const listed = await exec(['dpkg-query', '--show', '--showformat', '${Package}\t${Version}\t${db:Status-Abbrev}\n', ...HOST_TOOL_PACKAGES]).catch(() => undefined)
  if (!listed) return undefined
  return new Map(listed.stdout.split('\n').flatMap((line) => {
    const [name, version, status] = line.split('\t')
    return name && version && status?.startsWith('ii') ? [[name, version] as [string, string]] : []
  }))
}

/** The installed versions of those packages in the image's dpkg status. */
async function imageVersions(root: string): Promise<Map<string, string>> {
  const status = await readFile(await resolveInRoot(root, '/var/lib/dpkg/status'), 'utf8').catch(() => '')
  const versions = new Map<string, string>()
  for (const stanza of status.split(/\n\n+/)) {
    const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(stanza)?.[1]
    const name = field('Package')
    if (name && (HOST_TOOL_PACKAGES as readonly string[]).includes(name) && field('Status') === 'install ok installed') versions.set(name, field('Version') ?? '')
  }
  return versions
}
