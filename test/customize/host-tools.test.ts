/**
 * Maintainer scripts with this host's dash, coreutils, sed, grep and findutils when they are the
 * image's versions (see src/customize/host-tools.ts): on the bookworm demo image, on this Debian 12
 * host, a packages step uses them and makes the tree the fully emulated step makes; when a version
 * differs, the host is not x86-64, the image has the library folders or PIBAKE_HOST_TOOLS=0, it
 * does not, and says why.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HOST_TOOL_PACKAGES, hostTools, toolBinds, touchedPackages } from '../../src/customize/host-tools.ts'
import { diffSnapshots, takeSnapshot } from '../../src/snapshot/index.ts'
import { exec } from '../../src/system/exec.ts'
import { stepsOnDemo } from './demo-root.ts'

const demo = stepsOnDemo(test)

/** Files any two installs write differently (timestamps in logs, ldconfig's cache of inodes and times). */
const LOGS = new Set(['/var/log/dpkg.log', '/var/log/alternatives.log', '/var/log/apt/history.log', '/var/log/apt/term.log', '/var/log/apt/eipp.log.xz', '/var/cache/ldconfig/aux-cache'])

const PACKAGES = ['less', 'vim-tiny', 'lsof']

async function install(hostToolsOff: boolean) {
  const saved = process.env.PIBAKE_HOST_TOOLS
  if (hostToolsOff) process.env.PIBAKE_HOST_TOOLS = '0'
  try {
    await demo.step({ kind: 'packages', install: PACKAGES, upgrade: false, recommends: false })
  } finally {
    if (saved === undefined) delete process.env.PIBAKE_HOST_TOOLS
    else process.env.PIBAKE_HOST_TOOLS = saved
  }
  return takeSnapshot(demo.inImage('/'))
}

test('on the bookworm image, a packages step runs its scripts with this host tools and makes the tree the emulated step makes', async () => {
  const emulated = await install(true)
  assert.ok(demo.infos.includes('maintainer scripts run emulated: PIBAKE_HOST_TOOLS=0'), demo.infos.join('\n'))
  await demo.reset()
  const native = await install(false)
  // dash and coreutils are what scripts start most; sed may be a point release apart (bookworm's 4.9-1+deb12u1).
  assert.ok(demo.infos.some((line) => /^maintainer scripts run this host's dash \S+, coreutils \S+.* \(the image's own versions\), the rest emulated/.test(line)), demo.infos.join('\n'))
  const diff = diffSnapshots(emulated, native)
  const differ = [...diff.added, ...diff.removed, ...diff.changed].map((change) => change.path).filter((path) => !LOGS.has(path))
  assert.equal(differ, [], 'the same tree, logs aside')
  for (const folder of ['/lib64', '/usr/lib/x86_64-linux-gnu']) assert.is(await lstat(demo.inImage(folder)).catch(() => undefined), undefined, `${folder} is gone again`)
  for (const name of PACKAGES) assert.match((await exec(['grep', '-A1', `^Package: ${name}$`, demo.inImage('/var/lib/dpkg/status')])).stdout, 'Status: install ok installed')
})

/** A root whose dpkg status lists the host tool packages at `versions`, with a program of each. */
async function fakeRoot(versions: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'pibake-host-tools-'))
  await mkdir(join(root, 'var/lib/dpkg'), { recursive: true })
  await mkdir(join(root, 'usr/bin'), { recursive: true })
  const stanzas = Object.entries(versions).map(([name, version]) => `Package: ${name}\nStatus: install ok installed\nArchitecture: arm64\nVersion: ${version}\n`)
  await writeFile(join(root, 'var/lib/dpkg/status'), stanzas.join('\n'))
  for (const name of ['dash', 'ls', 'sed', 'grep', 'find', 'uname']) await writeFile(join(root, 'usr/bin', name), 'an arm program\n')
  return root
}

async function hostVersions(): Promise<Record<string, string>> {
  const { stdout } = await exec(['dpkg-query', '--show', '--showformat', '${Package} ${Version}\n', ...HOST_TOOL_PACKAGES])
  return Object.fromEntries(stdout.trim().split('\n').map((line) => line.split(' ') as [string, string]))
}

test('the same versions: binds for the image programs it has, uname kept, the library folders; otherwise the reason', async () => {
  const versions = await hostVersions()
  const root = await fakeRoot(versions)
  try {
    const tools = await hostTools(root, 'x64', {})
    assert.ok(tools.use, JSON.stringify(tools))
    if (!tools.use) return
    const { binds, message } = toolBinds(tools, new Set())
    assert.is(message, `maintainer scripts run this host's ${HOST_TOOL_PACKAGES.map((name) => `${name} ${versions[name]}`).join(', ')} (the image's own versions), the rest emulated`)
    const targets = binds.map((bind) => bind.target).sort()
    assert.equal(targets, ['/lib64', '/usr/bin/dash', '/usr/bin/find', '/usr/bin/grep', '/usr/bin/ls', '/usr/bin/sed', '/usr/lib/x86_64-linux-gnu'], 'only programs the image has; never uname')
    assert.ok(binds.every((bind) => bind.readOnly))
    assert.equal(tools.emulated, [])
    // dpkg cannot replace a program mounted over: a run that upgrades coreutils keeps the image's.
    const upgrading = toolBinds(tools, new Set(['coreutils', 'openssh-server']))
    assert.not.ok(upgrading.binds.some((bind) => bind.target === '/usr/bin/ls'))
    assert.ok(upgrading.binds.some((bind) => bind.target === '/usr/bin/dash'))
    assert.match(upgrading.message, /; emulated too: this run changes coreutils$/)
    const all = toolBinds(tools, new Set(HOST_TOOL_PACKAGES))
    assert.equal(all.binds, [], 'nothing left to mount: not even the libraries')
    assert.match(all.message, /^maintainer scripts run emulated: this run changes dash; /)

    assert.equal(await hostTools(root, 'x64', { PIBAKE_HOST_TOOLS: '0' }), { use: false, why: 'PIBAKE_HOST_TOOLS=0' })
    assert.equal(await hostTools(root, 'arm64', {}), { use: false, why: 'this host is arm64, not x86-64' })
    await mkdir(join(root, 'lib64'))
    assert.equal(await hostTools(root, 'x64', {}), { use: false, why: 'the image has /lib64 itself' })
  } finally {
    await rm(root, { recursive: true, force: true })
  }
  const other = await fakeRoot({ ...versions, coreutils: '9.7-3' })
  try {
    const tools = await hostTools(other, 'x64', {})
    assert.ok(tools.use)
    if (!tools.use) return
    const { binds } = toolBinds(tools, new Set())
    assert.not.ok(binds.some((bind) => bind.target === '/usr/bin/ls'), 'coreutils of another version stays the image\'s')
    assert.ok(binds.some((bind) => bind.target === '/usr/bin/dash'))
    assert.equal(tools.emulated, [`the image's coreutils is 9.7-3, this host's ${versions.coreutils}`])
  } finally {
    await rm(other, { recursive: true, force: true })
  }
  const none = await fakeRoot(Object.fromEntries(Object.keys(versions).map((name) => [name, '1:0-0'])))
  try {
    const tools = await hostTools(none, 'x64', {})
    assert.is(tools.use, false)
    assert.match(tools.use ? '' : tools.why, `the image's dash is 1:0-0, this host's ${versions.dash}`)
  } finally {
    await rm(none, { recursive: true, force: true })
  }
})

test('the packages an apt simulation installs, upgrades or removes', () => {
  const simulation = [
    'NOTE: This is only a simulation!',
    'Inst coreutils [9.1-1] (9.1-2 Debian:12.9/stable [arm64])',
    'Inst libfoo1:arm64 (1.0-1 Debian:12.9/stable [arm64])',
    'Remv dphys-swapfile [20100506-7.1]',
    'Purg sed [4.9-1]',
    'Conf coreutils (9.1-2 Debian:12.9/stable [arm64])',
  ].join('\n')
  assert.equal([...touchedPackages(simulation)].sort(), ['coreutils', 'dphys-swapfile', 'libfoo1', 'sed'])
})

test.run()
