/** Snapshots of a disk image's root partition, mounted read-only for the time it takes. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import { Cleanup } from '../system/cleanup.ts'
import { attachLoop } from '../system/losetup.ts'
import { mount } from '../system/mount.ts'
import { bootAndRoot, readPartitionTable } from '../system/partitions.ts'
import { loadSnapshotSource } from './io.ts'
import { takeSnapshot } from './take.ts'
import type { Snapshot, SnapshotOptions } from './types.ts'

export async function snapshotImage(image: string, options: SnapshotOptions = {}): Promise<Snapshot> {
  const { root } = bootAndRoot(await readPartitionTable(image, options.signal), image)
  const cleanup = new Cleanup()
  try {
    const dir = await mkdtemp(join(tmpdir(), 'pibake-snapshot-'))
    cleanup.defer(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }))
    const device = await attachLoop(cleanup, image, { offset: root.offset, sizelimit: root.size, readOnly: true, signal: options.signal })
    await mount(cleanup, device, dir, { type: 'ext4', options: ['ro', 'noload'], signal: options.signal })
    const snapshot = await takeSnapshot(dir, options)
    return { ...snapshot, source: image }
  } finally {
    const errors = await cleanup.run()
    if (errors.length) throw errors[0]
  }
}

/** A directory, a saved snapshot (.json), or a disk image (.img: its root partition). */
export async function loadAnySnapshot(source: string, options: SnapshotOptions = {}): Promise<Snapshot> {
  if (source.endsWith('.img')) return snapshotImage(source, options)
  if (source.endsWith('.xz')) throw new PibakeError(`${source}: compressed images can't be snapshotted directly`, `decompress it first: xz -dk ${source}`)
  return loadSnapshotSource(source, options)
}
