/**
 * A build's provenance, stored with it at publish: the snapshot of the tree that was published
 * (`<id>.snapshot.json`, pibake's own format), its digest in `<id>.json`, and, when the target
 * names a key, the record's SSH signature (`<id>.json.sig`). `pibake verify` checks the tree on
 * the server against them.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LayerContext } from '../pipeline/stage.ts'
import type { HostFiles } from '../publish/files.ts'
import { snapshotText } from '../snapshot/io.ts'
import { takeSnapshot } from '../snapshot/take.ts'
import { signFile } from '../system/ssh-keygen.ts'
import { SIGNATURE_NAMESPACE, buildSignatureName, buildSnapshotName, sha256Text, type ProvenanceFields } from './record.ts'

interface Taken {
  readonly text: string
  readonly sha256: string
  readonly entries: number
}

/**
 * The snapshot of each publish's root tree, taken once per build and shared by its targets (they
 * publish the same tree concurrently): keyed by the run's workspace, then by the stage's key.
 */
const taken = new WeakMap<object, Map<string, Promise<Taken>>>()

/**
 * Starts (or joins) the snapshot of `root`, the tree this publish copies. The promise never
 * rejects unobserved: a publish that fails before it asks for the snapshot leaves no stray error.
 */
export function snapshotForPublish(ctx: LayerContext, root: string): Promise<Taken> {
  let byKey = taken.get(ctx.workspace)
  if (!byKey) taken.set(ctx.workspace, (byKey = new Map()))
  let snapshot = byKey.get(ctx.key)
  if (!snapshot) {
    ctx.emit({ type: 'step', stage: 'publish', step: 'snapshot of the root filesystem (stored with the build)' })
    snapshot = takeSnapshot(root, { signal: ctx.signal }).then((s) => {
      const text = snapshotText({ ...s, source: `build of ${ctx.recipe.name}` })
      return { text, sha256: sha256Text(text), entries: s.entries.length }
    })
    snapshot.catch(() => byKey.delete(ctx.key))
    byKey.set(ctx.key, snapshot)
  }
  return snapshot
}

/** Writes `<id>.snapshot.json` into `builds` on the host; returns what `<id>.json` records of it. */
export async function storeSnapshot(files: HostFiles, builds: string, id: string, snapshot: Promise<Taken>): Promise<ProvenanceFields> {
  const { text, sha256, entries } = await snapshot
  const file = buildSnapshotName(id)
  await files.writeAtomic(join(builds, file), text)
  return { snapshot: { file, sha256, entries } }
}

/** Signs the record's text with `key` (ssh-keygen -Y sign) and writes the signature beside it as `<id>.json.sig`. */
export async function storeSignature(files: HostFiles, builds: string, id: string, recordText: string, key: string, signal?: AbortSignal): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-sign-'))
  try {
    const file = join(dir, `${id}.json`)
    await writeFile(file, recordText)
    await signFile(key, SIGNATURE_NAMESPACE, file, signal)
    await files.writeAtomic(join(builds, buildSignatureName(id)), await readFile(`${file}.sig`, 'utf8'))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
