/**
 * SBOMs across a site's builds, on a tiny image whose overlay brings a dpkg status of its own: each
 * published build has its two documents, the recipe's text and copied files hashed in them;
 * `findPackage` tells which build holds which version and which nodes boot it; gc takes a build's
 * SBOMs away with it.
 */
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import { localFiles } from '../../src/publish/files.ts'
import { findPackage } from '../../src/sbom/query.ts'
import { gc } from '../../src/site/ops.ts'
import { openSite, readRecord } from '../../src/site/store.ts'
import { createApp } from '../../src/web/app.ts'
import { parseListen } from '../../src/web/guard.ts'
import { Jobs } from '../../src/web/jobs.ts'
import { report } from '../../src/web/report.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { makeProject, type Project } from '../helpers/project.ts'
import { cyclonedxProblems, spdxProblems } from './schemas.ts'

const test = suite('sboms of a site')
let project: Project
const publishDir = () => join(project.out, 'publish')
const builds = () => join(publishDir(), 'nfs/test-node/builds')
const site = () => openSite({ kind: 'local', path: publishDir() })
const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex')

function status(version: string): string {
  return `Package: hello\nStatus: install ok installed\nArchitecture: arm64\nVersion: ${version}\nSource: hello-src (${version.replace(/\+b\d+$/, '')})\n`
}

test.before(async () => {
  project = await makeProject({ arch: 'arm64' })
  // A recipe file of its own, so that its text is hashed (validateRecipe names <dir>/recipe.ts).
  await writeFile(join(project.dir, 'recipe.ts'), 'export default { name: "test-node" } // the recipe text\n')
})
test.after(async () => {
  const left = await leftBehind(project.dir)
  await project.remove()
  assert.equal(left, [], 'no loop device or mount is left')
})

let first: string
let second: string

test('each published build has both documents, valid, with the recipe and the files it copies', async () => {
  await project.write('var/lib/dpkg/status', status('2.10-3'))
  await project.write('etc/motd', 'hello\n')
  await build(project.recipe(), { outDir: project.out })
  first = (await readRecord(site(), 'test-node'))!.live!
  const spdxText = await readFile(join(builds(), `${first}.spdx.json`), 'utf8')
  const cdxText = await readFile(join(builds(), `${first}.cdx.json`), 'utf8')
  assert.equal(spdxProblems(spdxText), [])
  assert.equal(await cyclonedxProblems(cdxText), [])
  const spdx = JSON.parse(spdxText)
  const files = Object.fromEntries(spdx.files.map((f: any) => [f.fileName, f.checksums.find((c: any) => c.algorithm === 'SHA256').checksumValue]))
  assert.equal(files, {
    './recipe.ts': sha256(await readFile(join(project.dir, 'recipe.ts'))),
    './overlays/base/rootfs/etc/motd': sha256('hello\n'),
    './overlays/base/rootfs/var/lib/dpkg/status': sha256(status('2.10-3')),
  })
  assert.equal(spdx.packages.filter((p: any) => p.name === 'hello').map((p: any) => [p.versionInfo, p.sourceInfo]), [['2.10-3', 'built from the Debian source package hello-src 2.10-3']])
})

test('findPackage: each build holding the package, its version, and the nodes booting it', async () => {
  await project.write('var/lib/dpkg/status', status('2.10-3+b1'))
  await build(project.recipe(), { outDir: project.out })
  second = (await readRecord(site(), 'test-node'))!.live!
  assert.is.not(second, first)
  const found = await findPackage(site(), 'hello')
  const common = { recipe: 'test-node', package: 'hello', arch: 'arm64', source: 'hello-src', sourceVersion: '2.10-3' }
  assert.equal(found.builds, [
    { ...common, build: first, live: false, version: '2.10-3', nodes: [] },
    { ...common, build: second, live: true, version: '2.10-3+b1', nodes: ['alpha', 'beta'] },
  ])
  assert.equal(found.unknown, [])
  assert.equal((await findPackage(site(), 'bash')).builds, [])
})

test('pibake serve links and sends each build\'s SBOMs, build id and format checked; pibake report links the files', async () => {
  const app = createApp({ site: site(), outDir: project.out, jobs: new Jobs() }, { listen: parseListen('127.0.0.1:8470'), token: 't', csrf: 'c' })
  const get = (path: string) => app.request(`http://127.0.0.1:8470${path}`, { headers: { authorization: 'Bearer t', host: '127.0.0.1:8470' } })
  const page = await (await get('/recipes/test-node')).text()
  for (const id of [first, second]) assert.ok(page.includes(`href="/recipes/test-node/builds/${id}/sbom/spdx"`), page.slice(0, 3000))
  const response = await get(`/recipes/test-node/builds/${second}/sbom/cyclonedx`)
  assert.is(response.status, 200)
  assert.is(response.headers.get('content-type'), 'application/vnd.cyclonedx+json')
  assert.is(await response.text(), await readFile(join(builds(), `${second}.cdx.json`), 'utf8'))
  for (const bad of [`/recipes/test-node/builds/${second}/sbom/xml`, '/recipes/test-node/builds/20990101-000000-deadbeef/sbom/spdx', '/recipes/test-node/builds/..%2F..%2Fetc/sbom/spdx']) {
    const refused = await get(bad)
    assert.is(refused.status, 400, bad)
    assert.not.match(await refused.text(), '"spdxVersion"')
  }
  const html = await report('test-node', { site: site(), outDir: project.out })
  assert.match(html, `href="${pathToFileURL(join(builds(), `${second}.spdx.json`)).href}"`)
})

test('gc removes a build with its SBOMs, and keeps the live build\'s', async () => {
  const later = new Date(Date.now() + 30 * 24 * 3600 * 1000)
  const result = await gc(site(), { recipe: 'test-node', keep: { builds: 1 }, now: later })
  assert.equal(result[0]!.removed.map((b) => b.id), [first])
  const names = await localFiles().list(builds())
  assert.not.ok(names.some((name) => name.startsWith(first)), names.join(' '))
  for (const suffix of ['.json', '.spdx.json', '.cdx.json']) assert.ok(names.includes(`${second}${suffix}`), `${second}${suffix}`)
})

test.run()
