/**
 * pibake doctor on what rehearsing roots needs: libnfs loads here (the root phase), and fatrace
 * (pibake try --record-reads) is found on PATH, or its absence is a warning naming what it stops.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rehearseTools } from '../../src/doctor/checks.ts'
import type { DoctorContext } from '../../src/doctor/types.ts'

const context = {} as DoctorContext

test('libnfs loads and fatrace is found on this machine (scripts/setup.sh installs both)', async () => {
  assert.equal((await rehearseTools(context)).map((r) => [r.name, r.status]), [['libnfs', 'ok'], ['fatrace', 'ok']])
})

test('without fatrace on PATH: a warning that says what it stops, and the package that brings it', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'pibake-root-doctor-'))
  const path = process.env.PATH
  process.env.PATH = empty
  try {
    const fatrace = (await rehearseTools(context)).find((r) => r.name === 'fatrace')!
    assert.is(fatrace.status, 'warning')
    assert.match(fatrace.detail, 'pibake try --record-reads cannot record a root read set')
    assert.is(fatrace.fix, 'apt-get install fatrace')
  } finally {
    process.env.PATH = path
    rmSync(empty, { recursive: true, force: true })
  }
})

test.run()
