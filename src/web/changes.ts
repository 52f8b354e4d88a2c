/**
 * What changed from one build of a recipe to the next, as `pibake diff` says it: the snapshot diff
 * of the two published root trees (pibake's own snapshot code), and the packages added, removed and
 * upgraded according to each tree's dpkg database. A published build never changes, so each
 * snapshot is taken once per server and kept for the next page.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { diffSnapshots, takeSnapshot, type Diff, type Snapshot } from '../snapshot/index.ts'

export interface PackageChanges {
  readonly added: readonly string[]
  readonly removed: readonly string[]
  readonly upgraded: readonly { readonly name: string; readonly from: string; readonly to: string }[]
}

export interface BuildChanges {
  readonly from: string
  readonly to: string
  readonly diff: Diff
  /** Undefined when either tree has no dpkg database. */
  readonly packages: PackageChanges | undefined
}

const SNAPSHOTS_KEPT = 8
const snapshots = new Map<string, Promise<Snapshot>>()

/** The changes between two published build trees (`builds/<from>` and `builds/<to>` under `buildsDir`). */
export async function buildChanges(buildsDir: string, from: string, to: string): Promise<BuildChanges> {
  const [a, b] = await Promise.all([snapshotOf(join(buildsDir, from)), snapshotOf(join(buildsDir, to))])
  const [pa, pb] = await Promise.all([installedPackages(join(buildsDir, from)), installedPackages(join(buildsDir, to))])
  return { from, to, diff: diffSnapshots(a, b), packages: pa && pb ? comparePackages(pa, pb) : undefined }
}

function snapshotOf(dir: string): Promise<Snapshot> {
  let snapshot = snapshots.get(dir)
  if (!snapshot) {
    snapshot = takeSnapshot(dir)
    snapshot.catch(() => snapshots.delete(dir))
    snapshots.set(dir, snapshot)
    if (snapshots.size > SNAPSHOTS_KEPT) snapshots.delete(snapshots.keys().next().value!)
  }
  return snapshot
}

/** Package name → version of every package dpkg lists as installed in the tree. */
export async function installedPackages(root: string): Promise<Map<string, string> | undefined> {
  const text = await readFile(join(root, 'var/lib/dpkg/status'), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  const packages = new Map<string, string>()
  for (const stanza of text.split(/\n\n+/)) {
    const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(stanza)?.[1]
    const [name, version, status] = [field('Package'), field('Version'), field('Status')]
    if (name && version && status?.endsWith(' installed')) packages.set(name, version)
  }
  return packages
}

export function comparePackages(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): PackageChanges {
  const added = [...after.keys()].filter((name) => !before.has(name)).sort()
  const removed = [...before.keys()].filter((name) => !after.has(name)).sort()
  const upgraded = [...after].filter(([name, version]) => before.has(name) && before.get(name) !== version).map(([name, to]) => ({ name, from: before.get(name)!, to })).sort((x, y) => x.name.localeCompare(y.name))
  return { added, removed, upgraded }
}

/** `3 added, 1 removed, 12 changed files; packages: +htop −nano, 2 upgraded`. */
export function changesLine(changes: BuildChanges): string {
  const { diff, packages } = changes
  const files = `${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed files`
  if (!packages) return files
  const names = [...packages.added.map((n) => `+${n}`), ...packages.removed.map((n) => `−${n}`)]
  const shown = names.length > 6 ? [...names.slice(0, 6), `… ${names.length - 6} more`] : names
  return `${files}; packages: ${[...shown, ...(packages.upgraded.length ? [`${packages.upgraded.length} upgraded`] : [])].join(' ') || 'unchanged'}`
}
