/**
 * The SBOM's parts on small trees written here: the dpkg status, DEP-5 licenses as SPDX expressions,
 * the .deb hashes from apt's cache, and both documents valid against their schemas, the same bytes
 * every time.
 */
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { collectSbom, debName } from '../../src/sbom/collect.ts'
import { cyclonedxDocument } from '../../src/sbom/cyclonedx.ts'
import { parseDpkgStatus } from '../../src/sbom/dpkg.ts'
import { copyrightLicenses, packageLicense } from '../../src/sbom/licenses.ts'
import { spdxDocument } from '../../src/sbom/spdx.ts'
import { cyclonedxProblems, spdxProblems } from './schemas.ts'

const STATUS = `Package: zlib1g
Status: install ok installed
Architecture: arm64
Source: zlib
Version: 1:1.2.13.dfsg-1
Maintainer: Mark Brown <broonie@debian.org>

Package: removed-one
Status: deinstall ok config-files
Architecture: arm64
Version: 1.0

Package: bash
Status: install ok installed
Architecture: arm64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b2
Homepage: http://tiswww.case.edu/php/chet/bash/bashtop.html
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.

Package: libstdc++6
Status: install ok installed
Architecture: arm64
Source: gcc-12
Version: 12.2.0-14
`

const BASH_COPYRIGHT = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: bash

Files: *
Copyright: (C) 1987-2022 Free Software Foundation, Inc.
License: GPL-3+

Files: lib/sh/*
Copyright: 2000 Someone
License: LGPL-3+ or GPL-2+, and BSD-3-clause

Files: doc/*
License: public-domain

License: public-domain
 Anyone may use this.
`

const test = suite('sbom documents')
let dir: string
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pibake-sbom-'))
})
test.after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function put(path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(join(dir, path)), { recursive: true })
  await writeFile(join(dir, path), content)
}

test('the dpkg status: installed packages only, sorted, each source and its version', () => {
  const packages = parseDpkgStatus(STATUS)
  assert.equal(packages.map((p) => p.name), ['bash', 'libstdc++6', 'zlib1g'])
  assert.equal(packages[0]!.source, { name: 'bash', version: '5.2.15-2' })
  assert.equal(packages[1]!.source, { name: 'gcc-12', version: '12.2.0-14' })
  assert.equal(packages[2]!.source, { name: 'zlib', version: '1:1.2.13.dfsg-1' })
})

test('DEP-5 License fields as SPDX expressions; other names as LicenseRefs; a file without Format: has none', () => {
  assert.is(copyrightLicenses('This is the Debian package of foo.\n\nLicense: GPL-2\n'), undefined)
  const license = packageLicense(copyrightLicenses(BASH_COPYRIGHT)!)!
  assert.is(license.expression, 'BSD-3-Clause AND GPL-3.0-or-later AND (LGPL-3.0-or-later OR GPL-2.0-or-later) AND LicenseRef-public-domain')
  assert.equal([...license.refs], [['LicenseRef-public-domain', 'public-domain']])
  const one = (synopsis: string) => packageLicense([synopsis])?.expression
  assert.is(one('GPL-2+'), 'GPL-2.0-or-later')
  assert.is(one('GPL-2'), 'GPL-2.0-only')
  assert.is(one('LGPL-2.1+'), 'LGPL-2.1-or-later')
  assert.is(one('Expat'), 'MIT')
  assert.is(one('GPL-1+ or Artistic'), 'GPL-1.0-or-later OR Artistic-1.0-Perl')
  assert.is(one('GPL-2 with Linux-syscall-note exception'), 'GPL-2.0-only WITH Linux-syscall-note')
  assert.is(one('GPL-3+ with Foo exception'), 'LicenseRef-GPL-3-with-Foo-exception')
  assert.is(one('Permission is hereby granted'), 'LicenseRef-Permission-is-hereby-granted')
})

test("apt's file name of a package: the epoch's colon as %3a", () => {
  assert.is(debName({ name: 'zlib1g', version: '1:1.2.13.dfsg-1', arch: 'arm64' }), 'zlib1g_1%3a1.2.13.dfsg-1_arm64.deb')
})

test('a tree: licenses, .deb hashes from the cache, distro; both documents valid and the same every time', async () => {
  await put('root/var/lib/dpkg/status', STATUS)
  await put('root/usr/share/doc/bash/copyright', BASH_COPYRIGHT)
  await put('root/usr/lib/os-release', 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
  const deb = Buffer.from('not really a deb')
  await put(`archives/${debName({ name: 'zlib1g', version: '1:1.2.13.dfsg-1', arch: 'arm64' })}`, deb)
  // Another version of bash in the cache is not the one installed.
  await put('archives/bash_5.2.15-2+b1_arm64.deb', 'older')
  const options = {
    recipe: 'tiny',
    key: 'ab'.repeat(32),
    pibake: '9.9.9',
    provenance: { image: { name: 'tiny.img.xz', sha256: 'cd'.repeat(32) }, files: [{ path: 'tiny.ts', role: 'recipe' as const, sha1: 'ef'.repeat(20), sha256: '01'.repeat(32) }] },
    archives: join(dir, 'archives'),
    created: 1700000000,
  }
  const data = await collectSbom(join(dir, 'root'), options)
  assert.equal(data.distro, { id: 'debian', versionId: '12', codename: 'bookworm' })
  assert.is(data.created, '2023-11-14T22:13:20Z')
  const zlib = data.packages.find((p) => p.name === 'zlib1g')!
  assert.equal(zlib.deb, { file: 'zlib1g_1%3a1.2.13.dfsg-1_arm64.deb', sha256: createHash('sha256').update(deb).digest('hex') })
  assert.is(data.packages.find((p) => p.name === 'bash')!.deb, undefined)
  const spdx = JSON.stringify(spdxDocument(data), null, 2)
  const cdx = cyclonedxDocument(data)
  assert.equal(spdxProblems(spdx), [])
  assert.equal(await cyclonedxProblems(cdx), [])
  const doc = JSON.parse(spdx)
  assert.equal(doc.hasExtractedLicensingInfos.map((l: any) => l.licenseId), ['LicenseRef-public-domain'])
  assert.ok(doc.packages.some((p: any) => p.SPDXID === 'SPDXRef-deb-libstdcPP6-arm64'))
  assert.is(JSON.parse(cdx).components.find((c: any) => c.name === 'zlib1g').purl, 'pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=arm64&distro=debian-12&upstream=zlib%401:1.2.13.dfsg-1')
  const again = await collectSbom(join(dir, 'root'), options)
  assert.is(JSON.stringify(spdxDocument(again), null, 2), spdx)
  assert.is(cyclonedxDocument(again), cdx)
})

test('the schemas refuse a document that breaks them', async () => {
  assert.ok(spdxProblems(JSON.stringify({ spdxVersion: 'SPDX-2.3' })).length)
  assert.ok((await cyclonedxProblems(JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.6', components: [{ name: 'x' }] }))).length)
})

test.run()
