/**
 * netboot.persist with several NFS servers: the node's persisted folders are on its own server, which
 * the script baked into the image cannot know; it reads it (and the server's folder) from the
 * `pibake.nfs=<server>:<path>` its TFTP folder's cmdline.txt gives it. With one server the script is
 * as it was.
 */
import { execFileSync } from 'node:child_process'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { persistScript } from '../../src/netboot/persist.ts'

/** The script's lines up to its first mount, run with `cmdline` as /proc/cmdline: the server and folder it would mount from. */
function resolved(script: string, cmdline: string): string {
  const head = script.slice(0, script.indexOf('mnt='))
  const shell = `cat() { printf '%s\\n' ${JSON.stringify(cmdline)}; }\n${head}\necho "$server $base"`
  return execFileSync('sh', ['-euc', shell], { encoding: 'utf8' }).trim()
}

test("with several servers the node mounts from the server and folder its cmdline names", () => {
  const script = persistScript('10.0.0.2', '/srv/a', ['/var/lib/keep'], { tier: true })
  assert.is(resolved(script, 'console=tty1 root=/dev/nfs nfsroot=10.0.0.3:/srv/b/lab/builds/x,vers=3 pibake.nfs=10.0.0.3:/srv/b ip=dhcp'), '10.0.0.3 /srv/b/_persist')
  assert.is(resolved(script, 'root=/dev/nfs pibake.nfs=nfs2.lab:/export/pibake'), 'nfs2.lab /export/pibake/_persist')
  assert.is(resolved(script, 'root=/dev/nfs ip=dhcp'), '10.0.0.2 /srv/a/_persist', 'without the argument: the first server')
})

test('with one server the script is byte for byte what it was, and ignores the argument', () => {
  const script = persistScript('10.0.0.2', '/srv/a', ['/var/lib/keep'])
  assert.is(script, persistScript('10.0.0.2', '/srv/a', ['/var/lib/keep'], { tier: false }))
  assert.not.match(script, 'pibake.nfs')
  assert.match(script, "server='10.0.0.2'\nbase='/srv/a/_persist'\nmnt=/run/pibake/persist\n")
  assert.is(resolved(script, 'pibake.nfs=10.0.0.3:/srv/b'), '10.0.0.2 /srv/a/_persist')
})

test.run()
