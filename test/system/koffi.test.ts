/**
 * koffi takes its settings only before its first library is loaded: every binding of pibake must
 * take it from src/system/koffi.ts. Here libc's xattr calls (the export) load first, then the
 * rehearsal's libc calls, in one process, as a process that exports and rehearses would.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { libnfsReservedPorts } from '../../src/rehearse/nfs-client.ts'
import { pathXattrs } from '../../src/system/xattr-calls.ts'

test('the export reads xattrs, then a rehearsal counts its ports: both through one configured koffi', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-koffi-'))
  try {
    const file = join(dir, 'f')
    await writeFile(file, 'x')
    assert.is(pathXattrs(file), undefined, 'a new file in /tmp has no xattrs')
    const ports = libnfsReservedPorts()
    assert.ok(ports > 400 && ports <= 512, `reserved ports libnfs may take: ${ports}`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
