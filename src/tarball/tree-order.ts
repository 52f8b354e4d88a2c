/**
 * A tree (and a second one grafted below a folder of it) walked in the order of its tarball:
 * every path in `comparePaths` order, found as it is needed rather than all before the first
 * entry is written, so that zstd gets its first bytes while the walk goes on.
 *
 * The order comes folder by folder: in a folder, each child's own path sorts by its name, and
 * everything below a child folder `a` together at `a/` (no name holds a slash, so no other name
 * falls among the paths that start with `a/`; `a-b` sorts before them, `a0` after).
 */
import { PibakeError } from '../errors.ts'
import { comparePaths } from '../snapshot/types.ts'
import { describe, hostPath, readDirectory, type Found } from '../snapshot/walk.ts'

export interface Graft {
  /** The folder whose tree goes below `prefix`. */
  readonly dir: string
  /** Its place in the first tree, without slashes around it (`boot/firmware`). */
  readonly prefix: string
}

/**
 * Every path of `root` (and of the graft, below its prefix), sorted. The graft's own folder is
 * the tree's folder at the prefix when the tree has one, which must be empty (the boot
 * partition's mount point); its entries keep the graft's absolute paths.
 */
export function* treeInOrder(root: string, graft?: Graft): Generator<Found> {
  const at = graft ? `/${graft.prefix}` : undefined
  const { deepest, mountPoint } = at === undefined ? { deepest: '/', mountPoint: false } : onTheWay(root, at)
  const list = (path: string): Found[] => {
    if (graft && at !== undefined && (path === at || path.startsWith(`${at}/`))) {
      if (path === at && mountPoint) {
        const inside = readDirectory(root, at).sort(byPath)[0]
        if (inside) throw new PibakeError(`${root}${inside.entry.path}: the tree already holds files in ${at}, where the boot files ${graft.dir} would go`, `empty ${at} in the tree (it is the boot partition's mount point), or export the folder alone`)
      }
      return readDirectory(graft.dir, path === at ? '/' : path.slice(at.length)).map((found) => moved(found, at))
    }
    const found = readDirectory(root, path)
    // No folder at the prefix: the graft's own goes in the deepest folder the tree has on the way.
    if (graft && at !== undefined && !mountPoint && path === deepest) found.push(moved(describe('/', graft.dir), at))
    return found
  }
  const top = describe('/', root)
  yield top
  if (top.entry.type === 'dir') yield* below('/', list)
}

/** The entries below the folder `path`, sorted; `list` gives a folder's own entries (whose names may hold slashes: a graft). */
function* below(path: string, list: (path: string) => Found[]): Generator<Found> {
  const skip = path === '/' ? 1 : path.length + 1
  const keys: { readonly key: string; readonly found: Found; readonly subtree: boolean }[] = []
  for (const found of list(path)) {
    const name = found.entry.path.slice(skip)
    keys.push({ key: name, found, subtree: false })
    if (found.entry.type === 'dir') keys.push({ key: `${name}/`, found, subtree: true })
  }
  keys.sort((a, b) => comparePaths(a.key, b.key))
  for (const { found, subtree } of keys) {
    if (subtree) yield* below(found.entry.path, list)
    else yield found
  }
}

const byPath = (a: Found, b: Found) => comparePaths(a.entry.path, b.entry.path)

/** `found` recorded at `prefix` + its path (the graft's own folder at `prefix`). */
function moved(found: Found, prefix: string): Found {
  found.entry.path = found.entry.path === '/' ? prefix : `${prefix}${found.entry.path}`
  return found
}

/**
 * How far the tree's own folders go on the way to `path` (as the walk finds them: a symlink is not
 * followed), and whether `path` itself is one of them. Something else at `path` is refused: the
 * graft would be written below it.
 */
function onTheWay(root: string, path: string): { readonly deepest: string; readonly mountPoint: boolean } {
  let deepest = '/'
  for (let slash = path.indexOf('/', 1); ; slash = path.indexOf('/', slash + 1)) {
    const step = slash < 0 ? path : path.slice(0, slash)
    const found = lstatOf(root, step)
    if (found?.entry.type !== 'dir') {
      if (found && slash < 0) throw new PibakeError(`${root}${path} is a ${found.entry.type}, where the boot files go`, `make ${path} an empty folder in the tree (the boot partition's mount point), or export the folder alone`)
      return { deepest, mountPoint: false }
    }
    if (slash < 0) return { deepest, mountPoint: true }
    deepest = step
  }
}

function lstatOf(root: string, path: string): Found | undefined {
  try {
    return describe(path, hostPath(root, path))
  } catch {
    return undefined
  }
}
