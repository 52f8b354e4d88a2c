/**
 * The writers of what a node reads at boot refuse a value that would add an argument or a line,
 * whoever calls them (the recipe refuses such paths first: test/recipe/invalid.test.ts); and the
 * shared folder's fstab line, as the netboot stage writes it, is read by util-linux's own fstab
 * parser (findmnt) as one read-write mount with nosuid and nodev.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError } from '../../src/errors.ts'
import { accountsScript, accountsUnit } from '../../src/netboot/accounts.ts'
import { netbootCmdline, nodeCmdline } from '../../src/netboot/cmdline.ts'
import { identityScript } from '../../src/netboot/identity.ts'
import { sharedFstabLine } from '../../src/netboot/diskless.ts'
import { netbootFstab } from '../../src/stages/netboot.ts'

const COMMON = netbootCmdline('console=tty1 root=PARTUUID=1-02 rootfstype=ext4 rootwait quiet')
const SHARED = { path: '/srv/shared', mount: '/shared' }
const dir = mkdtempSync(join(tmpdir(), 'pibake-one-field-'))

function refuses(run: () => unknown, start: string): void {
  try {
    run()
  } catch (error) {
    assert.instance(error, PibakeError)
    assert.ok((error as Error).message.startsWith(start), (error as Error).message)
    return
  }
  assert.unreachable(`accepted: ${start}`)
}

interface FstabEntry {
  readonly target: string
  readonly source: string
  readonly fstype: string
  readonly 'vfs-options': string
}

/** The fstab as util-linux reads it. */
function findmnt(fstab: string): FstabEntry[] {
  const file = join(dir, 'fstab')
  writeFileSync(file, fstab)
  const json = execFileSync('findmnt', ['--fstab', '-F', file, '-J', '-o', 'TARGET,SOURCE,FSTYPE,VFS-OPTIONS'], { encoding: 'utf8' })
  return (JSON.parse(json) as { filesystems: FstabEntry[] }).filesystems
}

test('the shared folder is mounted nosuid,nodev: findmnt reads one rw NFS mount with both', () => {
  const fstab = netbootFstab('proc /proc proc defaults 0 0\nPARTUUID=1-02 / ext4 defaults 0 1\n', [sharedFstabLine('10.0.0.2', SHARED)])
  const entries = findmnt(fstab)
  const nfs = entries.filter((e) => e.fstype === 'nfs')
  assert.equal(nfs.map((e) => [e.source, e.target]), [['10.0.0.2:/srv/shared', '/shared']])
  // Every read-write mount of the node that is not its own memory must refuse set-uid and devices.
  for (const entry of entries.filter((e) => e.fstype !== 'proc' && e['vfs-options'].split(',').includes('rw'))) {
    for (const flag of ['nosuid', 'nodev']) assert.ok(entry['vfs-options'].split(',').includes(flag), `${entry.target} is mounted ${entry['vfs-options']}, without ${flag}`)
  }
})

test('the identity script mounts its node folder nosuid,nodev too (read-only, but from the server)', () => {
  const mounts = [...identityScript(['ed25519']).matchAll(/mount -t nfs -o (\S+)/g)].map((m) => m[1]!.split(','))
  assert.ok(mounts.length > 0, 'the identity script mounts over NFS')
  for (const options of mounts) for (const flag of ['ro', 'nosuid', 'nodev']) assert.ok(options.includes(flag), `mounted ${options.join(',')}, without ${flag}`)
})

test('the fstab writer refuses a mount point, path or server that would add a line or a field', () => {
  refuses(() => sharedFstabLine('10.0.0.2', { path: '/srv/shared', mount: '/shared\n10.0.0.9:/evil /usr nfs rw 0 0' }), 'the shared mount point "/shared\\n10.0.0.9:/evil')
  refuses(() => sharedFstabLine('10.0.0.2', { path: '/srv/shared', mount: '/my shared' }), 'the shared mount point "/my shared" holds a space')
  refuses(() => sharedFstabLine('10.0.0.2', { path: '/srv/a\tb', mount: '/shared' }), 'the shared folder "/srv/a\\tb" holds a tab')
  refuses(() => sharedFstabLine('10.0.0.2 x', SHARED), 'the NFS server "10.0.0.2 x" holds a space')
})

test('the cmdline writer refuses an NFS path or argument that would add a kernel argument', () => {
  refuses(() => nodeCmdline(COMMON, { server: '10.0.0.2', path: '/srv/a init=/bin/sh' }, []), 'the NFS root path "/srv/a init=/bin/sh" holds a space')
  refuses(() => nodeCmdline(COMMON, { server: '10.0.0.2', path: '/srv/nfs\ninit=/bin/sh' }, []), 'the NFS root path "/srv/nfs\\ninit=/bin/sh" holds a line break')
  refuses(() => nodeCmdline(COMMON, { server: '10.0.0.2', path: '/srv/nfs,port=1' }, []), 'the NFS root path "/srv/nfs,port=1" holds a comma')
  refuses(() => nodeCmdline(COMMON, { server: '10.0.0.2', path: '/srv/nfs' }, ['quiet init=/bin/sh']), 'the kernel argument "quiet init=/bin/sh" holds a space')
  assert.is(nodeCmdline(COMMON, { server: '10.0.0.2', path: '/srv/nfs' }, []).trimEnd().split(' ').length, COMMON.length + 1)
})

test("the accounts unit and script refuse a mount point that would add a line to them", () => {
  refuses(() => accountsUnit('/shared\nExecStartPre=/bin/sh'), 'the shared mount point "/shared\\nExecStartPre=/bin/sh" holds a line break')
  refuses(() => accountsScript('/shared\nreboot'), 'the shared mount point "/shared\\nreboot" holds a line break')
})

test.after(() => rmSync(dir, { recursive: true, force: true }))
test.run()
