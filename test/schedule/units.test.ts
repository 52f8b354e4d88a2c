/**
 * The scheduled build's units as text (service, timer, cron line), then fed to the real
 * systemd-analyze: quoting that systemd would split differently fails its check.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cronSchedule, renderCron } from '../../src/schedule/cron.ts'
import { buildArgv, execLine, MARKER, renderService, renderTimer, systemdQuote, type ScheduleSpec } from '../../src/schedule/units.ts'
import { exec } from '../../src/system/exec.ts'

const SPEC: ScheduleSpec = {
  recipe: 'workers',
  recipeFile: '/srv/site/recipes/workers.ts',
  node: '/usr/bin/node',
  cli: '/usr/lib/node_modules/pibake/dist/cli.js',
  out: '/var/lib/pibake',
  onCalendar: 'Sun *-*-* 03:30',
  refresh: false,
  upgrade: true,
  version: '1.2.3',
}

const settings = (text: string) => text.split('\n').filter((line) => line && !line.startsWith('#'))

test('the service runs the build once, with absolute paths, niced, idle I/O, and time to undo mounts on stop', () => {
  const service = renderService(SPEC)
  assert.ok(service.startsWith(MARKER), 'marked as written by pibake')
  assert.equal(settings(service), [
    '[Unit]',
    'Description=pibake: rebuild and publish workers',
    'Wants=network-online.target',
    'After=network-online.target',
    '[Service]',
    'Type=oneshot',
    'ExecStart=/usr/bin/node /usr/lib/node_modules/pibake/dist/cli.js build /srv/site/recipes/workers.ts --out /var/lib/pibake --plain --upgrade',
    'Nice=10',
    'CPUSchedulingPolicy=batch',
    'IOSchedulingClass=idle',
    'TimeoutStartSec=6h',
    'KillMode=mixed',
    'TimeoutStopSec=10min',
    'SyslogIdentifier=pibake-workers',
  ])
})

test('--refresh and --upgrade reach the build command line, and only when asked', () => {
  assert.equal(buildArgv({ ...SPEC, upgrade: false }).slice(-2), ['/var/lib/pibake', '--plain'])
  assert.equal(buildArgv({ ...SPEC, refresh: true, upgrade: true }).slice(-3), ['--plain', '--refresh', '--upgrade'])
})

test('the timer: the calendar, catching up after downtime, a random delay, and the service it starts', () => {
  assert.equal(settings(renderTimer(SPEC)), [
    '[Unit]',
    'Description=pibake: rebuild workers on a schedule',
    '[Timer]',
    'OnCalendar=Sun *-*-* 03:30',
    'Persistent=true',
    'RandomizedDelaySec=15min',
    'Unit=pibake-workers.service',
    '[Install]',
    'WantedBy=timers.target',
  ])
})

test('systemdQuote: plain words stay, others are double-quoted with \\ " % $ escaped', () => {
  assert.is(systemdQuote('/srv/site/recipes/workers.ts'), '/srv/site/recipes/workers.ts')
  assert.is(systemdQuote('/srv/my site/a.ts'), '"/srv/my site/a.ts"')
  assert.is(systemdQuote('say "hi"\\'), '"say \\"hi\\"\\\\"')
  assert.is(systemdQuote('100%'), '"100%%"')
  assert.is(systemdQuote('$HOME'), '"$$HOME"')
  assert.is(systemdQuote('/opt/$x/node', true), '"/opt/$x/node"', 'the program path is not expanded by systemd: $ stays single')
  assert.is(execLine(['/a b/node', 'x$y']), '"/a b/node" "x$$y"')
  assert.throws(() => systemdQuote('/srv/a\nExecStartPre=/bin/rm'), /control character/)
})

test('cron: the normalized calendar specs cron can express become its five fields', () => {
  assert.equal(cronSchedule('*-*-* 00:00:00'), { fields: '0 0 * * *' })
  assert.equal(cronSchedule('Sun *-*-* 03:30:00'), { fields: '30 3 * * 0' })
  assert.equal(cronSchedule('Mon..Fri *-*-* 04:00:00'), { fields: '0 4 * * 1-5' })
  assert.equal(cronSchedule('*-*-* *:00/15:00'), { fields: '0-59/15 * * * *' })
  assert.equal(cronSchedule('*-*-01 00:00:00'), { fields: '0 0 1 * *' })
  assert.equal(cronSchedule('*-01,07-01 06:00,30:00'), { fields: '0,30 6 1 1,7 *' })
})

test('cron: what it cannot express is said, not approximated', () => {
  for (const [spec, problem] of [
    ['*-*-* 03:00:00 Europe/Berlin', 'not a date and time cron can express'],
    ['*-*-* 03:00:30', 'no seconds'],
    ['2027-*-* 03:00:00', 'no years'],
    ['Mon,Wed *-*-01,15 04:05:00', 'OR the weekday'],
    ['Fri..Mon *-*-* 04:00:00', 'cannot express'],
  ] as const) {
    const result = cronSchedule(spec)
    assert.ok('problem' in result && result.problem.includes(problem), `${spec}: ${JSON.stringify(result)}`)
  }
})

test('the cron line runs the same build niced, logs it, escapes % for cron, and is commented out when the spec does not convert', () => {
  const cron = renderCron({ ...SPEC, out: '/var/lib/pibake 100%' }, 'Sun *-*-* 03:30:00')
  assert.match(cron, "\n30 3 * * 0 root nice -n 10 ionice -c 3 /usr/bin/node /usr/lib/node_modules/pibake/dist/cli.js build /srv/site/recipes/workers.ts --out '/var/lib/pibake 100\\%' --plain --upgrade >>/var/log/pibake-workers.log 2>&1\n")
  const daily = renderCron({ ...SPEC, onCalendar: 'daily' }, undefined)
  assert.match(daily, '\n0 0 * * * root ', 'without systemd-analyze, the shorthands still convert')
  const zoned = renderCron(SPEC, '*-*-* 03:00:00 Europe/Berlin')
  assert.match(zoned, '\n# * * * * * root nice')
  assert.not.match(zoned, /^\d/m)
})

test('systemd-analyze verify accepts the units as written, a program path with a space, % and $ included', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-units-'))
  try {
    const odd = join(dir, 'node dir 100%$x')
    await mkdir(odd)
    await symlink(process.execPath, join(odd, 'node'))
    const spec = { ...SPEC, node: join(odd, 'node'), cli: join(dir, 'cli.js') }
    await writeFile(join(dir, 'pibake-workers.service'), renderService(spec))
    await writeFile(join(dir, 'pibake-workers.timer'), renderTimer(spec))
    const verify = () => exec(['systemd-analyze', 'verify', join(dir, 'pibake-workers.service'), join(dir, 'pibake-workers.timer')], { okCodes: [1] })
    const ok = await verify()
    assert.is(ok.exitCode, 0, ok.stderr)
    assert.is(`${ok.stdout}${ok.stderr}`.trim(), '', 'no warning either (systemd-analyze only warns about a setting it ignores)')
    // The check can fail: the same path unquoted is split at the space, and systemd says so.
    await writeFile(join(dir, 'pibake-workers.service'), renderService(spec).replace(/^ExecStart=.*$/m, `ExecStart=${spec.node} ${spec.cli}`))
    const broken = await verify()
    assert.is(broken.exitCode, 1)
    assert.match(broken.stderr, 'is not executable')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test.run()
