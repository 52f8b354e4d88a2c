/**
 * `pibake schedule` end to end, as far as a host whose PID 1 is not systemd allows: the units it
 * writes pass `systemd-analyze verify`; the service's ExecStart, run by hand in systemd's bare
 * environment, builds the demo image with --upgrade and publishes; run again it re-runs nothing
 * (the apt archives did not change) and publishes nothing; a failing build exits non-zero and
 * publishes nothing; --print writes nothing; --remove removes the units and the enable link.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildDemoImage, type DemoImage } from '../../src/demo/build.ts'
import { exec, type ExecResult } from '../../src/system/exec.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { writeSiteRecipe } from '../helpers/site-recipe.ts'

const repo = join(import.meta.dirname, '../..')
/** The PATH systemd gives a system service: pibake must need nothing from the caller's environment. */
const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

let tmp = ''
let units = ''
let out = ''
let recipe = ''
let image: DemoImage

const pibake = (...args: string[]) => exec([process.execPath, join(repo, 'bin/pibake.js'), ...args], { cwd: tmp, okCodes: [1, 2] })
const service = () => readFile(join(units, 'pibake-nightly.service'), 'utf8')

test.before(async () => {
  image = await buildDemoImage({ arch: 'arm64', outDir: join(repo, 'out/demo') })
  tmp = await mkdtemp(join(tmpdir(), 'pibake-schedule-'))
  units = join(tmp, 'units')
  out = join(tmp, 'out')
  recipe = await writeSiteRecipe(join(tmp, 'site'), 'nightly', image)
})

test.after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

test('pibake schedule writes the service and the timer, says how to enable them, and systemd-analyze verify accepts them', async () => {
  const result = await pibake('schedule', recipe, '--on-calendar', 'Sun *-*-* 03:30', '--unit-dir', units, '--out', out, '--upgrade')
  assert.is(result.exitCode, 0, result.stderr)
  assert.equal((await readdir(units)).sort(), ['pibake-nightly.service', 'pibake-nightly.timer'])
  assert.match(result.stdout, '  systemctl daemon-reload && systemctl enable --now pibake-nightly.timer\n')
  assert.match(result.stdout, '  when: Sun *-*-* 03:30:00 (next: Sun ')
  assert.match(await service(), `\nExecStart=${process.execPath} ${join(repo, 'bin/pibake.js')} build ${recipe} --out ${out} --plain --upgrade\n`)
  const verify = await exec(['systemd-analyze', 'verify', join(units, 'pibake-nightly.service'), join(units, 'pibake-nightly.timer')], { okCodes: [1] })
  assert.is(verify.exitCode, 0, verify.stderr)
  assert.is(`${verify.stdout}${verify.stderr}`.trim(), '', 'not even a warning')
})

test("the service's ExecStart, run by hand, builds with --upgrade and publishes; run again, it re-runs nothing and publishes nothing", async () => {
  const started = performance.now()
  const first = await runExecStart()
  console.log(`scheduled build with --upgrade, from scratch: ${((performance.now() - started) / 1000).toFixed(1)} s`)
  assert.is(first.exitCode, 0, first.stderr)
  assert.match(first.stderr, /^customize\s*\| › apt-get dist-upgrade \(--upgrade\)$/m)
  const published = /^pibake: nightly: published build (\S+) to /m.exec(first.stderr)
  assert.ok(published, first.stderr.slice(-2000))
  assert.is(await readlink(join(out, 'publish/nfs/nightly/current')), `builds/${published![1]}`)
  const archives = JSON.parse(await readFile(join(out, 'work/nightly/stages/customize/archives.json'), 'utf8')) as { archives: { url: string; sha256: string | null }[] }
  assert.ok(archives.archives.length > 0 && archives.archives.every((a) => a.url.endsWith('Release') && a.sha256), JSON.stringify(archives))

  const second = await runExecStart()
  assert.is(second.exitCode, 0, second.stderr)
  assert.match(second.stderr, /^customize\s*\| cached$/m, 'the archives did not change: the upgrade is not run again')
  assert.match(second.stderr, `pibake: nightly: unchanged: build ${published![1]} is live at `)
  assert.equal(await leftBehind(out), [], warnings(first, second))

  // The check can fail: an archive whose InRelease differs from the one on record makes the stage run.
  const tampered = { archives: archives.archives.map((a, i) => (i === 0 ? { ...a, sha256: '0'.repeat(64) } : a)) }
  await writeFile(join(out, 'work/nightly/stages/customize/archives.json'), JSON.stringify(tampered))
  const plan = await pibake('plan', recipe, '--out', out, '--upgrade')
  assert.is(plan.exitCode, 0, plan.stderr)
  assert.match(plan.stdout, new RegExp(`^customize run +the archive ${escape(archives.archives[0]!.url.replace(/\/(In)?Release$/, ''))} changed$`, 'm'))
  assert.match(plan.stdout, /^netboot\s+run\s+an earlier stage runs$/m)
})

test('a scheduled build that fails exits non-zero and publishes nothing', async () => {
  const live = await readlink(join(out, 'publish/nfs/nightly/current'))
  const source = await readFile(recipe, 'utf8')
  await writeFile(recipe, source.replace('  nodes,', "  customize: [{ kind: 'run', command: 'echo the mirror is down >&2; exit 3' }],\n  nodes,"))
  try {
    const failed = await runExecStart()
    assert.is(failed.exitCode, 1, failed.stderr)
    assert.match(failed.stderr, 'exited 3')
    assert.match(failed.stderr, 'the mirror is down')
    assert.not.match(failed.stderr, /^publish\s*\| running/m)
    assert.is(await readlink(join(out, 'publish/nfs/nightly/current')), live, 'the live build is the one before')
    assert.equal(await leftBehind(out), [], warnings(failed))
  } finally {
    await writeFile(recipe, source)
  }
})

test('--print shows the units and a cron line and writes nothing; a bad calendar spec is refused', async () => {
  const printed = await pibake('schedule', recipe, '--on-calendar', 'daily', '--unit-dir', join(tmp, 'elsewhere'), '--out', out, '--print')
  assert.is(printed.exitCode, 0, printed.stderr)
  assert.match(printed.stdout, `# ${join(tmp, 'elsewhere')}/pibake-nightly.service\n# Written by pibake schedule`)
  assert.match(printed.stdout, '\nOnCalendar=daily\n')
  assert.match(printed.stdout, `\n0 0 * * * root nice -n 10 ionice -c 3 ${process.execPath} `)
  assert.not.ok(existsSync(join(tmp, 'elsewhere')), '--print wrote nothing')
  const bad = await pibake('schedule', recipe, '--on-calendar', 'every full moon', '--unit-dir', units)
  assert.is(bad.exitCode, 2)
  assert.match(bad.stderr, '--on-calendar "every full moon" is not a systemd calendar spec')
})

test('--remove takes the units and the enable link away, and never a unit pibake did not write', async () => {
  await mkdir(join(units, 'timers.target.wants'))
  await symlink('../pibake-nightly.timer', join(units, 'timers.target.wants/pibake-nightly.timer'))
  const removed = await pibake('schedule', '--remove', recipe, '--unit-dir', units)
  assert.is(removed.exitCode, 0, removed.stderr)
  assert.equal(await readdir(units, { recursive: true }), ['timers.target.wants'])
  assert.match(removed.stdout, 'systemctl stop pibake-nightly.timer; systemctl daemon-reload')

  await writeFile(join(units, 'pibake-nightly.service'), '[Service]\nExecStart=/bin/true\n')
  for (const args of [['--remove', 'nightly'], [recipe, '--on-calendar', 'daily']]) {
    const refused = await pibake('schedule', ...args, '--unit-dir', units)
    assert.is(refused.exitCode, 1, refused.stdout)
    assert.match(refused.stderr, 'was not written by pibake schedule: leaving it alone')
  }
  assert.is(await readFile(join(units, 'pibake-nightly.service'), 'utf8'), '[Service]\nExecStart=/bin/true\n')
})

/** Runs the service's ExecStart= as systemd would: its words unquoted, in systemd's bare environment. */
async function runExecStart(): Promise<ExecResult> {
  const line = /^ExecStart=(.*)$/m.exec(await service())?.[1]
  if (!line) throw new Error('the service has no ExecStart=')
  return exec(['env', '-i', `PATH=${SYSTEMD_PATH}`, ...systemdWords(line)], { cwd: '/', okCodes: [1, 2, 130] })
}

/** systemd's splitting of a command line: words, double quotes with backslash escapes, `%%` and (after the program) `$$`. */
function systemdWords(line: string): string[] {
  const words = [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!))
  return words.map((word, i) => (i === 0 ? word : word.replaceAll('$$', '$')).replaceAll('%%', '%'))
}

/** The warnings runs printed, for a failure message. */
function warnings(...runs: ExecResult[]): string {
  return `warnings: ${runs.flatMap((run) => run.stderr.split('\n').filter((line) => line.includes('warning:'))).join('\n') || 'none'}`
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

test.run()
