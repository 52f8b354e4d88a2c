/**
 * The SBOMs of a real build: the demo image baked and published (test/boot/published.ts, once for
 * the file), its `<id>.spdx.json` and `<id>.cdx.json` beside `<id>.json`, each valid against its
 * official schema, their packages, licenses and sources as the tree's own dpkg database and copyright
 * files say; an unchanged rebuild makes none; `pibake sbom` prints them and `pibake site --package`
 * finds a package in the build with the nodes on it.
 */
import { readFile, stat } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import { exec } from '../../src/system/exec.ts'
import { publishDemoBuild, type PublishedBuild } from '../boot/published.ts'
import { cyclonedxProblems, spdxProblems } from './schemas.ts'

const CLI = join(import.meta.dirname, '../../src/cli.ts')
const test = suite('sbom of the demo build')
let published: PublishedBuild
let spdx: Record<string, any>
let cdx: Record<string, any>
let spdxText: string
let cdxText: string

test.before(async () => {
  published = await publishDemoBuild('sbom-test')
  const builds = join(published.recipeDir, 'builds')
  spdxText = await readFile(join(builds, `${published.id}.spdx.json`), 'utf8')
  cdxText = await readFile(join(builds, `${published.id}.cdx.json`), 'utf8')
  spdx = JSON.parse(spdxText)
  cdx = JSON.parse(cdxText)
})
test.after(async () => {
  await published?.remove()
})

/** A package's paragraph of the build's dpkg status, read here with a regular expression (not the code under test). */
async function statusOf(name: string): Promise<Record<string, string>> {
  const status = await readFile(join(published.root, 'var/lib/dpkg/status'), 'utf8')
  const paragraph = status.split('\n\n').find((p) => new RegExp(`^Package: ${name}$`, 'm').test(p))!
  return Object.fromEntries([...paragraph.matchAll(/^([A-Za-z-]+): (.*)$/gm)].map((m) => [m[1]!, m[2]!]))
}

test('both documents are valid against their official schemas', async () => {
  assert.equal(spdxProblems(spdxText), [])
  assert.equal(await cyclonedxProblems(cdxText), [])
  assert.is(spdx.spdxVersion, 'SPDX-2.3')
  assert.is(cdx.specVersion, '1.6')
})

test('bash: version, architecture and source as the dpkg status says, its license from its DEP-5 copyright file', async () => {
  const fields = await statusOf('bash')
  const [sourceName, sourceVersion] = /^(\S+) \((\S+)\)$/.exec(fields.Source!)!.slice(1)
  const pkg = spdx.packages.find((p: any) => p.name === 'bash')
  assert.is(pkg.versionInfo, fields.Version)
  assert.is(pkg.sourceInfo, `built from the Debian source package ${sourceName} ${sourceVersion}`)
  assert.match(pkg.externalRefs[0].referenceLocator, `pkg:deb/debian/bash@${encodeURIComponent(fields.Version!)}?arch=${fields.Architecture}`)
  // debian/copyright: `Files: *` is GPL-3+.
  assert.ok(pkg.licenseDeclared.split(' AND ').includes('GPL-3.0-or-later'), pkg.licenseDeclared)
  const component = cdx.components.find((c: any) => c.name === 'bash')
  assert.is(component.version, fields.Version)
  const props = Object.fromEntries(component.properties.map((p: any) => [p.name, p.value]))
  assert.equal([props['pibake:deb:arch'], props['pibake:deb:source'], props['pibake:deb:source-version']], [fields.Architecture, sourceName, sourceVersion])
  assert.match(component.licenses[0].expression, 'GPL-3.0-or-later')
})

test('every installed package is listed once, in both documents', async () => {
  const status = await readFile(join(published.root, 'var/lib/dpkg/status'), 'utf8')
  const installed = status.split('\n\n').filter((p) => /^Status: .* installed$/m.test(p)).map((p) => `${/^Package: (.*)$/m.exec(p)![1]}:${/^Architecture: (.*)$/m.exec(p)![1]}`).sort()
  const fromSpdx = spdx.packages.filter((p: any) => p.SPDXID.startsWith('SPDXRef-deb-')).map((p: any) => `${p.name}:${p.comment.replace('architecture ', '')}`).sort()
  const fromCdx = cdx.components.filter((c: any) => c.purl?.startsWith('pkg:deb/')).map((c: any) => `${c.name}:${c.properties.find((p: any) => p.name === 'pibake:deb:arch').value}`).sort()
  assert.ok(installed.length > 100, `${installed.length} packages`)
  assert.equal(fromSpdx, installed)
  assert.equal(fromCdx, installed)
})

test('the image by its sha256, the files the recipe copies by theirs, and pibake', async () => {
  const image = spdx.packages.find((p: any) => p.SPDXID === 'SPDXRef-image')
  assert.equal(image.checksums, [{ algorithm: 'SHA256', checksumValue: published.recipe.image.sha256 }])
  const keys = await readFile(join(published.dir, 'overlay/rootfs/root/.ssh/authorized_keys'))
  const file = spdx.files.find((f: any) => f.fileName === './overlay/rootfs/root/.ssh/authorized_keys')
  assert.ok(file, JSON.stringify(spdx.files))
  assert.equal(file.checksums.find((c: any) => c.algorithm === 'SHA256').checksumValue, createHash('sha256').update(keys).digest('hex'))
  const version = JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8')).version
  assert.equal(spdx.creationInfo.creators, [`Tool: pibake-${version}`])
  assert.is(cdx.metadata.tools.components[0].version, version)
  const record = JSON.parse(await readFile(join(published.recipeDir, 'builds', `${published.id}.json`), 'utf8'))
  assert.is(spdx.packages.find((p: any) => p.SPDXID === 'SPDXRef-build').versionInfo, record.key)
})

test('an unchanged rebuild makes no SBOM and leaves the published ones as they are', async () => {
  const file = join(published.recipeDir, 'builds', `${published.id}.spdx.json`)
  const before = (await stat(file)).mtimeMs
  const events: BuildEvent[] = []
  await build(published.recipe, { outDir: published.out, onEvent: (e) => events.push(e) })
  assert.is((await stat(file)).mtimeMs, before)
  assert.equal(events.filter((e) => e.type === 'info' && /SBOM/.test(e.message)), [])
  assert.ok(events.some((e) => e.type === 'published' && !e.copied && e.id === published.id))
})

test('pibake sbom prints the published documents, by recipe name or build folder', async () => {
  const byName = await exec([process.execPath, '--conditions=pibake-source', CLI, 'sbom', 'sbom-test', '--out', published.out])
  assert.is(byName.stdout, spdxText.trimEnd())
  const byDir = await exec([process.execPath, '--conditions=pibake-source', CLI, 'sbom', published.root, '--format', 'cyclonedx'])
  assert.is(byDir.stdout, cdxText.trimEnd())
  const bad = await exec([process.execPath, '--conditions=pibake-source', CLI, 'sbom', 'sbom-test', '--format', 'xml', '--out', published.out], { okCodes: [2] })
  assert.match(bad.stderr, '--format xml: expected spdx or cyclonedx')
})

test('pibake site --package: the build holding it, its version, the nodes booting it', async () => {
  const fields = await statusOf('bash')
  const run = await exec([process.execPath, '--conditions=pibake-source', CLI, 'site', '--package', 'bash', '--json', '--out', published.out])
  const answer = JSON.parse(run.stdout)
  assert.equal(answer.builds, [{ recipe: 'sbom-test', build: published.id, live: true, package: 'bash', version: fields.Version, arch: fields.Architecture, source: 'bash', sourceVersion: /\((\S+)\)/.exec(fields.Source!)![1], nodes: ['boot-a', 'boot-b'] }])
  assert.equal(answer.unknown, [])
  const none = JSON.parse((await exec([process.execPath, '--conditions=pibake-source', CLI, 'site', '--package', 'no-such-package', '--json', '--out', published.out])).stdout)
  assert.equal(none.builds, [])
})

test.run()
