/**
 * What a root filesystem snapshot records, and what a diff between two of them says.
 * A snapshot is plain JSON: it can be saved, read back and compared on another machine.
 */

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket'

/** One path of the tree, as `lstat` sees it (symlinks are never followed). */
export interface Entry {
  /** Path inside the tree: `/etc/passwd`; the tree's own root is `/`. */
  path: string
  type: EntryType
  /** Permission bits including setuid, setgid and sticky (`st_mode & 0o7777`). */
  mode: number
  uid: number
  gid: number
  /** Size in bytes (files only). */
  size?: number
  /** SHA-256 of the contents, lowercase hex (files only). */
  sha256?: string
  /** Where the link points, as stored, relative or absolute (symlinks only). */
  target?: string
  /** Device number (character and block devices only). */
  rdev?: { major: number; minor: number }
  /** Extended attributes, name to value in lowercase hex; only present when there are any. */
  xattrs?: Record<string, string>
  /**
   * For a non-directory sharing its inode with other paths of the snapshot: the first of those
   * paths in path order. Set on every member, the first one included, so a link broken in one
   * snapshot shows up as a change.
   */
  hardlink?: string
  /** Modification time, whole seconds since the epoch. */
  mtime: number
}

export interface Snapshot {
  format: 'pibake-snapshot'
  version: 1
  /** What the snapshot was taken of (an absolute directory path). */
  source: string
  /** When it was taken, ISO 8601. */
  taken: string
  /** Every path of the tree, sorted by path (see `comparePaths`). */
  entries: Entry[]
}

export interface SnapshotOptions {
  /** Stops the walk, the hashing and the xattr reader when aborted. */
  signal?: AbortSignal
  /** Paths (as recorded, e.g. `/proc`) to leave out, together with everything below them. */
  exclude?: (path: string) => boolean
  /** Called with the number of entries recorded so far, as the count grows. */
  onProgress?: (done: number) => void
}

/** The fields of an entry that a diff compares, in the order it reports them. */
export const COMPARED_FIELDS = ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'target', 'rdev', 'xattrs', 'hardlink'] as const

export type ComparedField = (typeof COMPARED_FIELDS)[number] | 'mtime'

export interface FieldChange {
  field: ComparedField
  before: unknown
  after: unknown
}

export interface Change {
  path: string
  kind: 'added' | 'removed' | 'changed'
  /** For `changed`: exactly the fields that differ. */
  fields?: FieldChange[]
  before?: Entry
  after?: Entry
}

export interface Diff {
  added: Change[]
  removed: Change[]
  changed: Change[]
}

export interface DiffOptions {
  /** Compare modification times too (default: false, since copies and rebuilds change them). */
  mtime?: boolean
}

/**
 * The one order of paths used everywhere: plain code-unit order (never locale order), so a
 * snapshot sorts the same on every machine.
 */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
