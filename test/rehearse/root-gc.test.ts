/**
 * A build's root read set is collected with its build: removeBuilds (what gc runs) takes
 * `builds/<id>.reads.json` with the tree and record, and leaves the kept build's alone.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { RECORD_FORMAT, type SiteRecord } from '../../src/site/record.ts'
import { removeBuilds } from '../../src/site/ops.ts'
import { openSite, writeRecord } from '../../src/site/store.ts'

const OLD = '20261201-000000-1a2b3c4d'
const LIVE = '20261202-000000-5e6f7a8b'

test('removing a build removes its root read set (<id>.reads.json); the live build keeps its own', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-root-gc-'))
  try {
    const nfs = join(dir, 'nfs')
    const tftp = join(dir, 'tftp')
    const builds = join(nfs, 'workers', 'builds')
    for (const id of [OLD, LIVE]) {
      await mkdir(join(builds, id, 'etc'), { recursive: true })
      await writeFile(join(builds, `${id}.json`), '{}')
      await writeFile(join(builds, `${id}.reads.json`), '{}')
      await mkdir(join(tftp, 'builds', 'workers', id), { recursive: true })
    }
    const site = openSite({ kind: 'local', path: dir })
    const record: SiteRecord = {
      format: RECORD_FORMAT,
      recipe: 'workers',
      file: '/recipes/workers.ts',
      netboot: { server: '10.0.0.1', dhcp: { mode: 'range', start: '10.0.0.100', end: '10.0.0.150', netmask: '255.255.255.0', dns: [] }, nfs: { server: '10.0.0.2', path: nfs }, },
      nodes: [{ hostname: 'w1', mac: 'dc:a6:32:00:01:01', ip: '10.0.0.11', model: '4B' }],
      where: { nfs: { kind: 'local', path: nfs }, tftp: { kind: 'local', path: tftp } },
      live: LIVE,
      builds: [
        { id: OLD, created: '2026-12-01T00:00:00.000Z', live: [{ from: '2026-12-01T00:00:00.000Z', until: '2026-12-02T00:00:00.000Z' }] },
        { id: LIVE, created: '2026-12-02T00:00:00.000Z', live: [{ from: '2026-12-02T00:00:00.000Z' }] },
      ],
      keep: { builds: 1, days: 0 },
      updated: '2026-12-02T00:00:00.000Z',
    }
    await writeRecord(site, record)
    await removeBuilds(site, record, [OLD])
    assert.equal((await readdir(builds)).sort(), [LIVE, `${LIVE}.json`, `${LIVE}.reads.json`])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
