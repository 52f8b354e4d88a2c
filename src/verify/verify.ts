/**
 * `pibake verify`: reads a published build back where it lives (this machine, or a host over SSH
 * that has no pibake) and compares it, path by path, with the snapshot stored with it at publish.
 * Everything read from the server is checked before it is trusted, in this order: the record's
 * signature (when allowed signers are given), the record, the stored snapshot's digest, the
 * snapshot itself; only then is the tree read and compared.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PibakeError } from '../errors.ts'
import type { HostPool } from '../publish/hosts.ts'
import type { HostFiles } from '../publish/files.ts'
import type { Destination } from '../recipe/types.ts'
import { buildId, recipeName } from '../site/names.ts'
import { diffSnapshots } from '../snapshot/diff.ts'
import { parseSnapshot } from '../snapshot/io.ts'
import { takeSnapshot } from '../snapshot/take.ts'
import type { Diff, Snapshot } from '../snapshot/types.ts'
import { SignatureError, verifySignature } from '../system/ssh-keygen.ts'
import { SIGNATURE_NAMESPACE, buildSignatureName, parseBuildRecord, sha256Text } from './record.ts'
import { snapshotOnHost } from './remote.ts'

export interface VerifyOptions {
  /** An allowed-signers file (ssh-keygen(1)): the record must then carry a signature by a key it lists. */
  readonly allowedSigners?: string | undefined
  /** Compare modification times too. */
  readonly mtime?: boolean | undefined
  readonly signal?: AbortSignal | undefined
}

export interface Verified {
  readonly recipe: string
  readonly id: string
  /** The build's tree, as messages name it (`root@nfs1:/srv/pibake/web/builds/<id>`). */
  readonly where: string
  /** Paths the stored snapshot lists. */
  readonly entries: number
  /** What differs from what was built: empty when the tree is the one built. */
  readonly diff: Diff
  /** `signed by <principal>`, `signed, not checked` (no allowed signers given) or `unsigned`. */
  readonly signature: { readonly state: 'verified'; readonly principal: string } | { readonly state: 'not checked' | 'unsigned' }
}

const REPUBLISH = 'someone changed it on the server: find out who can write there, then roll back to a build that verifies (pibake rollback --to ID), or unpublish the recipe and publish it again'

/**
 * Verifies the build `id` of `recipe` on the NFS destination `nfs` (reached through `hosts`). The
 * tree is read while the record and the stored snapshot are checked (it does not depend on them:
 * the two meet only in the comparison); a failed check stops the reading.
 */
export async function verifyBuild(hosts: HostPool, nfs: Destination, recipe: string, id: string, options: VerifyOptions = {}): Promise<Verified> {
  const host = hosts.get(nfs)
  const builds = join(nfs.path, recipeName(recipe, 'the recipe to verify'), 'builds')
  const tree = join(builds, buildId(id, `the build of ${recipe} to verify`))
  const where = host.files.describe(tree)
  const recordFile = join(builds, `${id}.json`)
  const recordText = await host.files.readText(recordFile)
  if (recordText === undefined) throw new PibakeError(`${host.files.describe(recordFile)} is not there: ${recipe} has no build ${id} on ${host.name}`, 'pibake site lists the builds of each recipe')
  if (await host.files.readlink(tree)) throw new PibakeError(`${where} is a symlink, not the build's folder`, REPUBLISH)
  const stop = new AbortController()
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal
  const reading = nfs.kind === 'local' ? takeSnapshot(tree, { signal }) : snapshotOnHost(host, tree, signal)
  // Observed now, awaited below: a tree that fails to read while the checks run is not an unhandled rejection.
  reading.catch(() => undefined)
  try {
    const signature = await checkSignature(host.files, builds, id, recordText, options)
    const record = parseBuildRecord(recordText, { id, recipe }, host.files.describe(recordFile))
    if (!record.snapshot) {
      throw new PibakeError(`build ${id} of ${recipe} has no stored snapshot: it was published by a pibake that did not store one`, 'publish the recipe again with this pibake (a new build stores its snapshot), then verify that build')
    }
    const stored = await storedSnapshot(host.files, join(builds, record.snapshot.file), record.snapshot)
    const current = await reading
    return { recipe, id, where, entries: stored.entries.length, diff: diffSnapshots(stored, current, { mtime: options.mtime ?? false }), signature }
  } catch (error) {
    stop.abort()
    await reading.catch(() => undefined)
    throw error
  }
}

/** The stored snapshot, trusted only when its bytes have the digest the record names and it reads as a whole snapshot. */
async function storedSnapshot(files: HostFiles, file: string, expected: { sha256: string; entries: number }): Promise<Snapshot> {
  const text = await files.readText(file)
  if (text === undefined) throw new PibakeError(`the build's stored snapshot ${files.describe(file)} is not there`, REPUBLISH)
  const digest = sha256Text(text)
  if (digest !== expected.sha256) {
    throw new PibakeError(`refusing the stored snapshot ${files.describe(file)}: its sha256 is ${digest}, and the build's record says ${expected.sha256}`, REPUBLISH)
  }
  const snapshot = parseSnapshot(text, files.describe(file))
  const paths = new Set(snapshot.entries.map((e) => e.path))
  if (paths.size !== snapshot.entries.length || paths.size !== expected.entries) {
    throw new PibakeError(`refusing the stored snapshot ${files.describe(file)}: it lists ${snapshot.entries.length} entries (${paths.size} paths), and the build's record says ${expected.entries}`, REPUBLISH)
  }
  return snapshot
}

/** Checks `<id>.json.sig` against the allowed signers, when given; without them, says whether there is a signature. */
async function checkSignature(files: HostFiles, builds: string, id: string, recordText: string, options: VerifyOptions): Promise<Verified['signature']> {
  const sigFile = join(builds, buildSignatureName(id))
  const sig = await files.readText(sigFile)
  if (!options.allowedSigners) return { state: sig === undefined ? 'unsigned' : 'not checked' }
  if (sig === undefined) throw new PibakeError(`build ${id} is not signed (${files.describe(sigFile)} is not there), and allowed signers were given`, `publish with a signing key (publish[].sign.key in the recipe), or verify without --allowed-signers`)
  const dir = await mkdtemp(join(tmpdir(), 'pibake-verify-'))
  try {
    await writeFile(join(dir, 'record.json'), recordText)
    await writeFile(join(dir, 'record.json.sig'), sig)
    const principal = await verifySignature(options.allowedSigners, SIGNATURE_NAMESPACE, join(dir, 'record.json.sig'), join(dir, 'record.json'), options.signal)
    return { state: 'verified', principal }
  } catch (error) {
    if (!(error instanceof SignatureError)) throw error
    throw new PibakeError(`refusing build ${id}: the signature of its record ${files.describe(join(builds, `${id}.json`))} does not hold: ${error.message}`, `${REPUBLISH}; or, if the build was signed with another key, list that key in ${options.allowedSigners}`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

