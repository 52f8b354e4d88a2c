/**
 * The shared-accounts boot script run for real on this host, in a private mount namespace with a
 * tmpfs on /var/lib standing in for the image's /var/lib/pibake/accounts: seeding keeps owners and
 * modes, a second run adds only the accounts the image gained, and a file replaced by rename in the
 * shared folder shows through the bind at once. (The boot test runs it on nodes over NFS.)
 */
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ACCOUNTS_DIR, accountsScript } from '../../src/netboot/accounts.ts'
import { exec } from '../../src/system/exec.ts'

const SHADOW_GID = 42
const IMAGE = {
  passwd: 'root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n',
  group: 'root:x:0:\nshadow:x:42:\npi:x:1000:\n',
  shadow: 'root:*:20000:0:99999:7:::\npi:$6$x$y:20000:0:99999:7:::\n',
  gshadow: 'root:*::\nshadow:*::\npi:!::\n',
}

let dir: string
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pibake-accounts-'))
})
test.after(() => rmSync(dir, { recursive: true, force: true }))

/**
 * Runs the script with the image copies given, then `after` (a shell line) while the bind is still
 * there, in a mount namespace that goes away with it. Returns the script's output and `after`'s.
 */
async function boot(image: Record<string, string>, after = 'true', env?: Record<string, string>): Promise<string> {
  const copies = mkdtempSync(join(dir, 'image-'))
  const script = join(dir, `${basename(copies)}.sh`)
  writeFileSync(script, accountsScript(join(dir, 'shared')), { mode: 0o755 })
  for (const [name, text] of Object.entries(image)) {
    const secret = name.includes('shadow')
    writeFileSync(join(copies, name), text, { mode: secret ? 0o640 : 0o644 })
    chownSync(join(copies, name), 0, secret ? SHADOW_GID : 0)
  }
  const inside = [
    'mount -t tmpfs -o mode=0755 tmpfs /var/lib',
    `mkdir -p ${ACCOUNTS_DIR}`,
    `cp -p "$1"/* ${ACCOUNTS_DIR}/`,
    '"$2"',
    'eval "$3"',
  ].join('\n')
  const { stdout } = await exec(['unshare', '-m', '--propagation', 'private', 'sh', '-euc', inside, 'sh', copies, script, after], { env })
  return stdout
}

const shared = (name: string) => join(dir, 'shared/etc', name)

test('the first boot seeds the shared folder with the image’s accounts, owners and modes', async () => {
  mkdirSync(join(dir, 'shared'))
  const out = await boot(IMAGE, `cat ${ACCOUNTS_DIR}/passwd; findmnt -n -o TARGET ${ACCOUNTS_DIR}`)
  for (const [name, text] of Object.entries(IMAGE)) assert.is(readFileSync(shared(name), 'utf8'), text, `${name} seeded`)
  const shadow = statSync(shared('shadow'))
  assert.is((shadow.mode & 0o7777).toString(8), '640')
  assert.is(`${shadow.uid}:${shadow.gid}`, `0:${SHADOW_GID}`, 'shadow stays root:shadow')
  assert.is((statSync(shared('passwd')).mode & 0o7777).toString(8), '644')
  assert.is((statSync(join(dir, 'shared/etc')).mode & 0o7777).toString(8), '755', 'every user can read passwd through it')
  assert.is(readFileSync(shared('login.defs'), 'utf8'), readFileSync('/etc/login.defs', 'utf8'), 'login.defs for --prefix tools')
  assert.match(out, 'pibake-accounts: seeded')
  assert.ok(out.endsWith(`${IMAGE.passwd}${ACCOUNTS_DIR}`), `the shared etc/ is bound over the accounts folder:\n${out}`)
  assert.throws(() => statSync(shared('.pibake-accounts.lock')), 'the lock is released')
})

test('a later boot adds only the accounts the image gained, once, and keeps the fleet’s own', async () => {
  // The fleet added alice to the shared files; a rebuilt image brought a daemon's system user.
  const fleet = `${IMAGE.passwd}alice:x:1001:1001::/home/alice:/bin/bash\n`
  writeFileSync(shared('passwd'), fleet)
  const image = { ...IMAGE, passwd: `${IMAGE.passwd}avahi:x:105:110::/run/avahi:/usr/sbin/nologin\n` }
  const out = await boot(image)
  assert.match(out, "added the image's avahi")
  assert.not.match(out, 'seeded')
  const merged = readFileSync(shared('passwd'), 'utf8')
  assert.is(merged, `${fleet}avahi:x:105:110::/run/avahi:/usr/sbin/nologin\n`)
  assert.is((statSync(shared('shadow')).mode & 0o7777).toString(8), '640')
  assert.not.match(await boot(image), 'added', 'nothing to add the second time')
  assert.is(readFileSync(shared('passwd'), 'utf8'), merged, 'nothing added twice')
})

test('a file replaced by rename in the shared folder shows through the folder bind at once', async () => {
  const replace = [
    `printf 'root:x:0:0:root:/root:/bin/bash\\nbob:x:1002:1002::/home/bob:/bin/sh\\n' > ${shared('passwd+')}`,
    `mv ${shared('passwd+')} ${shared('passwd')}`,
    `cat ${ACCOUNTS_DIR}/passwd`,
  ].join('; ')
  assert.match(await boot(IMAGE, replace), /^bob:x:1002:/m)
})

test('nodes powered on together all seed from an empty shared folder: every boot succeeds, every account once', async () => {
  rmSync(join(dir, 'shared'), { recursive: true, force: true })
  mkdirSync(join(dir, 'shared'))
  // Another node makes etc/ between this one's look and its mkdir: a mkdir that makes the folder
  // itself just before the real one (CI saw "mkdir: cannot create directory '/shared/etc': File
  // exists" fail a node when two booted at once).
  const bin = join(dir, 'bin')
  mkdirSync(bin, { recursive: true })
  writeFileSync(join(bin, 'mkdir'), `#!/bin/sh
for last; do :; done
[ "$last" = '${join(dir, 'shared/etc')}' ] && /bin/mkdir "$last" 2>/dev/null
exec /bin/mkdir "$@"
`, { mode: 0o755 })
  const out = await boot(IMAGE, 'true', { PATH: `${bin}:${process.env.PATH}` })
  assert.match(out, 'accounts served from', 'the boot that lost the race to make etc/ goes on')
  rmSync(join(dir, 'shared/etc'), { recursive: true })
  const outs = await Promise.all(Array.from({ length: 8 }, () => boot(IMAGE)))
  for (const out of outs) assert.match(out, 'accounts served from')
  assert.is(outs.filter((out) => out.includes('seeded')).length >= 1, true, 'one of them seeded')
  for (const [name, text] of Object.entries(IMAGE)) assert.is(readFileSync(shared(name), 'utf8'), text, `${name}: every account once`)
})

test.run()
