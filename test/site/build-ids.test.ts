/**
 * A build id becomes a path that is removed with everything under it (`<nfs>/<recipe>/builds/<id>`,
 * `<tftp>/builds/<recipe>/<id>`), or that a publish links to and points nodes into. Whatever
 * carries one in — a record that got past the reader, the `current` link, an `<id>.json` — it is
 * checked before it is joined into a path, and nothing is removed when it is not a build id.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError } from '../../src/errors.ts'
import { currentBuild } from '../../src/publish/builds.ts'
import { localFiles } from '../../src/publish/files.ts'
import { removeBuilds, unpublish } from '../../src/site/ops.ts'
import { recordFile, type SiteRecord } from '../../src/site/record.ts'
import { planRetention } from '../../src/site/retention.ts'
import { openSite, writeRecord } from '../../src/site/store.ts'

const LIVE = '20261130-120000-1a2b3c4d'
const day = (d: number) => new Date(Date.UTC(2026, 10, d)).toISOString()

let dir: string
const site = () => openSite({ kind: 'local', path: dir })

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-build-ids-'))
})
test.after.each(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A record as it would be after getting past the reader: one old build whose id is `id`. */
function record(id: string, recipe = 'workers'): SiteRecord {
  return {
    format: 1,
    recipe,
    file: '/etc/pibake/workers.ts',
    netboot: { server: '10.0.0.1', dhcp: { mode: 'proxy', network: '10.0.0.0' }, nfs: { server: '10.0.0.2', path: join(dir, 'nfs') } },
    nodes: [],
    where: { nfs: { kind: 'local', path: join(dir, 'nfs') }, tftp: { kind: 'local', path: join(dir, 'tftp') } },
    live: LIVE,
    builds: [
      { id, created: day(1), live: [{ from: day(1), until: day(2) }] },
      { id: LIVE, created: day(2), live: [{ from: day(2) }] },
    ],
    keep: { builds: 1, days: 0 },
    updated: day(2),
  }
}

/** Files where the id's path would lead: `<nfs>/x` and `<tftp>/x` for `../../x`. */
async function canaries(): Promise<string[]> {
  const files = [join(dir, 'nfs/x/canary'), join(dir, 'nfs/x.json'), join(dir, 'tftp/x/canary')]
  for (const file of files) {
    await mkdir(join(file, '..'), { recursive: true })
    await writeFile(file, 'still here\n')
  }
  return files
}

async function refusal(run: () => Promise<unknown>): Promise<string> {
  try {
    await run()
  } catch (error) {
    assert.instance(error, PibakeError)
    return (error as PibakeError).message
  }
  throw new assert.Assertion({ message: 'nothing was refused', operator: 'refusal', expects: 'an error', actual: 'none' })
}

test('retention (gc, and the one after a publish) given a build id that climbs out refuses to remove anything', async () => {
  const files = await canaries()
  const bad = record('../../x')
  const plan = planRetention(bad, bad.keep, new Date(day(30)))
  assert.equal(plan.remove.map((b) => b.id), ['../../x'], 'the plan would remove it')
  const message = await refusal(() => removeBuilds(site(), bad, plan.remove.map((b) => b.id)))
  assert.match(message, 'refusing to remove a build of workers: "../../x" is not a build id')
  for (const file of files) assert.ok(existsSync(file), `${file} is still there`)
  assert.not.ok(existsSync(recordFile(dir, 'workers')), 'the record was not rewritten either')
})

test('removing builds of a recipe whose name climbs out is refused too', async () => {
  await mkdir(join(dir, 'nfs/builds/20261101-000000-00000000'), { recursive: true })
  const message = await refusal(() => removeBuilds(site(), record('20261101-000000-00000000', '..'), ['20261101-000000-00000000']))
  assert.match(message, 'refusing to remove the builds of a recipe: ".." is not a recipe name')
  assert.ok(existsSync(join(dir, 'nfs/builds/20261101-000000-00000000')))
})

test('a real build id is removed, with its record and boot files', async () => {
  const old = '20261101-000000-00000000'
  for (const path of [`nfs/workers/builds/${old}/etc`, `tftp/builds/workers/${old}/common`]) await mkdir(join(dir, path), { recursive: true })
  await writeFile(join(dir, `nfs/workers/builds/${old}.json`), '{}\n')
  const updated = await removeBuilds(site(), record(old), [old])
  assert.equal(updated.builds.map((b) => b.id), [LIVE])
  for (const path of [`nfs/workers/builds/${old}`, `nfs/workers/builds/${old}.json`, `tftp/builds/workers/${old}`]) assert.not.ok(existsSync(join(dir, path)), path)
})

test('the current link and the build record it leads to must name one build by its id', async () => {
  const recipe = join(dir, 'nfs/workers')
  await mkdir(join(recipe, 'builds', LIVE), { recursive: true })
  await writeFile(join(recipe, 'builds', `${LIVE}.json`), JSON.stringify({ id: LIVE, key: '1a2b3c4d5e6f', recipe: 'workers', image: { path: '/x.img', sha256: 'ab' }, created: day(2) }))
  await symlink(`builds/${LIVE}`, join(recipe, 'current'))
  assert.is((await currentBuild(localFiles(), join(dir, 'nfs'), 'workers'))?.id, LIVE)

  await rm(join(recipe, 'current'))
  await symlink('builds/../../../../../etc', join(recipe, 'current'))
  assert.match(await refusal(() => currentBuild(localFiles(), join(dir, 'nfs'), 'workers')), `${join(recipe, 'current')} is not as pibake writes it: it points at "builds/../../../../../etc", not at builds/<build id>`)

  await rm(join(recipe, 'current'))
  await symlink(`builds/${LIVE}`, join(recipe, 'current'))
  await writeFile(join(recipe, 'builds', `${LIVE}.json`), JSON.stringify({ id: '../../x', key: '1a2b3c4d5e6f' }))
  assert.match(await refusal(() => currentBuild(localFiles(), join(dir, 'nfs'), 'workers')), `its id is "../../x", not the build ${LIVE} that current points at`)
})

test('unpublish removes a recipe\'s folders whole only when they hold what pibake puts there', async () => {
  // A record that validates, but names as its NFS folder one holding a system's /usr.
  const usr = { ...record(LIVE, 'usr'), builds: [{ id: LIVE, created: day(2), live: [{ from: day(2) }] }] }
  await writeRecord(site(), usr)
  await mkdir(join(dir, 'nfs/usr/bin'), { recursive: true })
  await writeFile(join(dir, 'nfs/usr/bin/ls'), 'a program\n')
  assert.match(await refusal(() => unpublish(site(), 'usr')), `refusing to remove ${join(dir, 'nfs/usr')}: it holds "bin", which pibake never puts there`)
  assert.ok(existsSync(join(dir, 'nfs/usr/bin/ls')))
  assert.ok(existsSync(recordFile(dir, 'usr')), 'the record stays: nothing was changed')

  await rm(join(dir, 'nfs/usr/bin'), { recursive: true })
  for (const path of [`nfs/usr/builds/${LIVE}/etc`, 'nfs/usr/nodes', `tftp/builds/usr/${LIVE}/common`, `tftp/builds/usr/.${LIVE}.partial`]) await mkdir(join(dir, path), { recursive: true })
  await symlink(`builds/${LIVE}`, join(dir, 'nfs/usr/current'))
  await writeFile(join(dir, 'tftp/builds/usr/notes.txt'), 'not a build\n')
  assert.match(await refusal(() => unpublish(site(), 'usr')), `refusing to remove ${join(dir, 'tftp/builds/usr')}: it holds "notes.txt"`)
  await rm(join(dir, 'tftp/builds/usr/notes.txt'))
  assert.equal((await unpublish(site(), 'usr')).builds, [LIVE])
  for (const path of ['nfs/usr', 'tftp/builds/usr', 'pibake/usr.json']) assert.not.ok(existsSync(join(dir, path)), path)
})

test.run()
