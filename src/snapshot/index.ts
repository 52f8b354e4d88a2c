/**
 * Root filesystem snapshots and diffs: what a tree holds (metadata, contents hashes, xattrs, hard
 * links), saved as JSON, and what changed between two of them.
 */
export { takeSnapshot } from './take.ts'
export { readSnapshot, writeSnapshot, loadSnapshotSource } from './io.ts'
export { diffSnapshots, isEmptyDiff } from './diff.ts'
export { formatDiff, diffToJson } from './format.ts'
export { comparePaths } from './types.ts'
export type { Change, Diff, DiffOptions, Entry, EntryType, FieldChange, Snapshot, SnapshotOptions } from './types.ts'
