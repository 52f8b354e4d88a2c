/** A new build's id never names a build already on the servers, even one made the same second. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { newBuildId } from '../../src/publish/builds.ts'
import { localHost } from '../../src/publish/host.ts'
import { unusedBuildId } from '../../src/publish/trees.ts'

const KEY = '98a54ffb0123456789abcdef'

test('an id already taken on the NFS or the boot server, this second or the next ones, is skipped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-build-id-'))
  try {
    const host = localHost()
    const target = { nfs: { host, path: join(dir, 'nfs') }, tftp: { host, path: join(dir, 'tftp') } }
    const now = Date.now()
    const [first, second, third] = [0, 1000, 2000].map((ms) => newBuildId(KEY, new Date(now + ms)))
    // The same content built a moment ago: its tree, the record of another, the boot files of a third.
    await mkdir(join(dir, 'nfs/workers/builds', first!), { recursive: true })
    await writeFile(join(dir, 'nfs/workers/builds', `${second}.json`), '{}\n')
    await mkdir(join(dir, 'tftp/builds/workers', third!), { recursive: true })
    const id = await unusedBuildId(target, 'workers', KEY)
    assert.match(id, /^\d{8}-\d{6}-98a54ffb$/)
    assert.ok(![first, second, third].includes(id), `${id} is new`)
    assert.ok(id > third!, 'and later than every build there, so ids still sort by time')
    const before = newBuildId(KEY)
    const other = await unusedBuildId(target, 'desks', KEY)
    assert.ok([before, newBuildId(KEY)].includes(other), "another recipe's builds do not count: this second's id")
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
