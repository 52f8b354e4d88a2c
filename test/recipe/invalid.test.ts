/**
 * One fixture per mistake (fixtures/invalid/<what is wrong>.ts), each loaded as a real recipe is:
 * the table says which problems it must produce, in order, each starting with its field's path.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PibakeError, RecipeError } from '../../src/errors.ts'
import { loadRecipe } from '../../src/recipe/load.ts'

const fixtures = join(import.meta.dirname, 'fixtures')
const invalid = join(fixtures, 'invalid')
const scratch = mkdtempSync(join(tmpdir(), 'pibake-recipe-'))
const ZERO_2_W =
  'a Raspberry Pi Zero 2 W cannot boot from the network (it has no network boot support; it can only boot over USB from a host), use a 3B, 3B+, 4B, 400, CM4, 5, 500 or CM5'

interface Case {
  /** Each problem's beginning, in the order they are reported; nothing else may be reported. */
  readonly problems: readonly string[]
  /** Part of the error's hint, when the hint matters. */
  readonly hint?: string
}

const cases: Record<string, Case> = {
  'mac-not-a-mac': { problems: ['nodes[0].mac: "dc:a6:32:zz:00:01" is not a MAC address'] },
  'duplicate-ip': { problems: ['nodes[1].ip: 192.168.1.21 is already used by nodes[0] (node1)'] },
  'duplicate-mac': { problems: ['nodes[1].mac: dc:a6:32:00:00:01 is already used by nodes[0] (node1)'] },
  'duplicate-hostname': { problems: ['nodes[1].hostname: node1 is already used by nodes[0]'] },
  'duplicate-serial': { problems: ['nodes[1].serial: abcdef01 is already used by nodes[0] (node1)'] },
  'model-zero-2-w-cannot-netboot': { problems: [`nodes[1].model: ${ZERO_2_W}`] },
  'model-3a-plus-cannot-netboot': { problems: ['nodes[0].model: a Raspberry Pi 3A+ cannot boot from the network (it has no Ethernet port'] },
  'model-unknown': {
    problems: ['nodes[0].model: "4" is not a Raspberry Pi model pibake knows (did you mean "4B"? use one of 3B, 3B+, 4B, 400, CM4, 5, 500, CM5)'],
  },
  'unknown-field': { problems: ['nodes[0].hostnme: unknown field (did you mean "hostname"?)'] },
  'missing-image': { problems: [`image.path: ${fixtures}/raspios-missing.img.xz does not exist`], hint: `relative to the recipe's folder, ${invalid}` },
  'bad-sha256': { problems: ['image.sha256: "deadbeef" is not a SHA-256: it has 8 hex digits, not 64'], hint: 'sha256sum-style checksum file' },
  'sha256-file-missing': { problems: [`image.sha256: ${fixtures}/tiny.img.sha256sum does not exist`] },
  'sha256-file-without-hash': { problems: [`image.sha256: ${fixtures}/not-a-checksum.txt holds no SHA-256`] },
  'image-not-an-img': { problems: [`image.path: ${fixtures}/tiny.img.sha256 is not a disk image (.img, .img.xz) nor a root tarball (.tar, .tar.xz, .tar.zst)`] },
  'image-boot-with-disk-image': { problems: ['image.boot: goes with a root tarball in image.path: a disk image has its own boot partition'] },
  'image-boot-not-a-tarball': { problems: [`image.boot.path: ${fixtures}/tiny.img is not a tarball (.tar, .tar.xz, .tar.zst)`] },
  'arch-unknown': { problems: ['image.arch: must be "arm64" or "armhf", not "x86_64"'] },
  'name-invalid': { problems: ['name: "My Lab" is not a valid name'] },
  'name-missing': { problems: ['name: required'] },
  'no-nodes': { problems: ['nodes: at least one node is required'] },
  'hostname-invalid': { problems: ['nodes[0].hostname: "Node_1" is not a valid host name'] },
  'serial-invalid': { problems: ['nodes[0].serial: "1234567" is not a board serial number (8 or 16 hex digits)'] },
  'ip-not-an-address': { problems: ['netboot.server: "192.168.1.300" is not an IPv4 address'] },
  'node-ip-is-server': { problems: ["nodes[0].ip: 192.168.1.1 is the server's address (netboot.server)"] },
  'node-ip-missing-in-range-mode': { problems: ["nodes[1].ip: required with dhcp mode 'range'"] },
  'node-ip-outside-subnet': { problems: ["nodes[0].ip: 192.168.2.21 is not in the server's subnet (192.168.1.0/24)"] },
  'dhcp-mode-invalid': { problems: ['netboot.dhcp.mode: must be "proxy" or "range", not "static"'] },
  'dhcp-range-reversed': { problems: ['netboot.dhcp.end: 192.168.1.100 comes before the start of the range (192.168.1.200)'] },
  'dhcp-range-outside-subnet': { problems: ["netboot.dhcp.end: 192.168.2.10 is not in the server's subnet (192.168.1.0/24)"] },
  'netmask-invalid': { problems: ['netboot.dhcp.netmask: "255.0.255.0" is not a netmask'] },
  'nfs-server-invalid': { problems: ['netboot.nfs.server: "nfs server" is neither an IPv4 address nor a host name'] },
  'shared-accounts-with-root-squash': {
    problems: ["netboot.shared.rootSquash: shared accounts need the nodes' root to write the account files in the shared folder, which root_squash forbids"],
    hint: 'leave out rootSquash',
  },
  'host-keys-unknown-type': { problems: ['netboot.hostKeys[1]: must be "ed25519", "ecdsa" or "rsa", not "dsa"'] },
  'host-keys-twice': { problems: ['netboot.hostKeys: lists a host key type twice'] },
  'host-keys-empty': { problems: ['netboot.hostKeys: must list at least one host key type (ed25519, ecdsa, rsa)'] },
  'nfs-path-relative': { problems: ['netboot.nfs.path: "srv/nfs" must be an absolute path'] },
  'overlay-missing': { problems: [`overlays[1]: ${fixtures}/no-such-overlay does not exist`] },
  'overlay-without-rootfs-or-bootfs': { problems: [`overlays[0]: ${fixtures}/empty-overlay holds neither rootfs/ nor bootfs/`], hint: 'rootfs/ (copied onto /)' },
  'cmdline-with-space': { problems: ['nodes[0].cmdline[0]: "console=ttyAMA0 quiet" contains a space'] },
  'config-with-line-break': { problems: ['nodes[0].config[0]: "dtparam=audio=off\\nhdmi_force_hotplug=1" contains a line break'] },
  'publish-ssh-path-relative': { problems: ['publish[0].nfs.path: "srv/nfs" must be an absolute path'] },
  'publish-scp-style-string': {
    problems: ['publish[0].nfs: "nfs.lab.example:/srv/nfs" looks like an scp-style destination: write { host: "nfs.lab.example", path: "/srv/nfs" }'],
  },
  'nfs-path-with-space': { problems: ['netboot.nfs.path: "/srv/a init=/bin/sh" contains a space'], hint: 'cannot hold white space' },
  'nfs-path-with-line-break': { problems: ['netboot.nfs.path: "/srv/nfs\\ninit=/bin/sh" contains a line break'] },
  'nfs-path-with-comma': { problems: ['netboot.nfs.path: "/srv/nfs,port=2049" contains a comma: nfsroot= would read what follows it as NFS mount options'] },
  'default-nfs-path-with-space': {
    problems: [`netboot.nfs.path: "${invalid}/publish/my nfs" contains a space: it would split into two arguments where it is written (the default: publish[0].nfs's folder)`],
    hint: 'set netboot.nfs.path',
  },
  'default-nfs-path-with-comma': {
    problems: [`netboot.nfs.path: "${invalid}/publish/nfs,port=2049" contains a comma: nfsroot= would read what follows it as NFS mount options (the default: publish[0].nfs's folder)`],
    hint: 'set netboot.nfs.path',
  },
  'shared-mount-with-line-break': { problems: ['netboot.shared.mount: "/shared\\n10.0.0.9:/evil /usr nfs rw 0 0" contains a line break'] },
  'shared-mount-with-space': { problems: ['netboot.shared.mount: "/my shared" contains a space'] },
  'shared-path-with-tab': { problems: ['netboot.shared.path: "/srv/shared\\tx" contains a tab or control character'] },
  'ssh-host-starts-with-dash': { problems: ['publish[0].nfs.host: "-oProxyCommand=x": its host starts with "-", which ssh would read as an option'] },
  'ssh-user-starts-with-dash': { problems: ['publish[0].tftp.host: "-oProxyCommand=x@boot.lab.example": its user starts with "-", which ssh would read as an option'] },
  'ssh-host-after-user-starts-with-dash': { problems: ['publish[0].tftp.host: "root@-oProxyCommand=x": its host starts with "-", which ssh would read as an option'] },
  'publish-empty': { problems: ['publish: must list at least one target'] },
  'ssh-port-invalid': { problems: ['publish[0].tftp.port: must be a TCP port, 1 to 65535'] },
  'five-mistakes': {
    problems: [
      'name: "Lab Cluster" is not a valid name',
      'netboot.dhcp.mode: must be "proxy" or "range", not "dhcp"',
      'nodes[0].mac: "dc:a6:32:zz:00:01" is not a MAC address',
      `nodes[2].model: ${ZERO_2_W}`,
      'nodes[3].ip: 192.168.1.22 is already used by nodes[1] (node2)',
    ],
  },
  'customize-kind-unknown': {
    problems: ['customize[1].kind: must be "packages", "remove", "run", "script", "copy", "write", "enable", "disable", "mask", "users" or "groups", not "install"'],
  },
  'customize-unknown-field': { problems: ['customize[0].comand: unknown field (did you mean "command"?)'] },
  'customize-mode-decimal': { problems: ["customize[1].mode: 644 is not a mode (did you mean '644'? as a number, 644 is 0o1204)"], hint: "like '0644'" },
  'customize-mode-not-octal': { problems: ['customize[0].mode: "rw-r--r--" is not a mode (3 or 4 octal digits'] },
  'customize-plaintext-password': {
    problems: ['customize[0].users[0].password: not a crypt hash: pibake never puts a plain-text password in an image'],
    hint: 'mkpasswd --method=yescrypt',
  },
  'customize-md5-password': { problems: ['customize[0].users[0].password: an MD5 crypt hash ($1$), too weak to accept'] },
  'customize-copy-source-missing': { problems: [`customize[0].from: ${fixtures}/no-such-file.conf does not exist`], hint: "relative to the recipe's folder" },
  'customize-script-is-a-folder': { problems: [`customize[0].path: ${fixtures}/overlay is not a file`] },
  'customize-write-relative-path': { problems: ['customize[0].path: "etc/motd" must be an absolute path in the image'] },
  'customize-packages-nothing-to-do': { problems: ['customize[0]: give install (package names), upgrade: true, or both'] },
  'customize-package-name-invalid': { problems: ['customize[0].install[0]: "nfs-common openssh-server" is not a Debian package name'] },
  'customize-ssh-key-invalid': { problems: ['customize[0].users[0].sshKeys[0]: "AAAAC3NzaC1lZDI1NTE5AAAAIB alice@lap..." is not an SSH public key line'] },
  'customize-unit-invalid': { problems: ['customize[0].units[0]: "ssh service" is not a systemd unit name'] },
  'customize-user-name-invalid': { problems: ['customize[0].users[0].name: "Alice" is not a valid user or group name'] },
  'customize-user-twice': { problems: ['customize[0].users[1].name: alice is listed twice'] },
  'customize-owner-invalid': { problems: ['customize[0].owner: "pi:pi:pi" is not an owner (user or user:group'] },
  'no-default-export': { problems: ['it has no default export'], hint: 'export default defineRecipe' },
  'default-export-not-object': { problems: ['its default export is a function, not a recipe object'] },
  'throws-while-loading': { problems: [`loading it threw Error: LAB_SERVER is not set (at ${invalid}/throws-while-loading.ts:6:9)`] },
  'syntax-error': { problems: ['syntax error at line 6: Unexpected token `,`'], hint: 'fix the syntax' },
  'unsupported-syntax': { problems: ['syntax error at line 3: TypeScript enum is not supported in strip-only mode'], hint: 'erasable TypeScript' },
  'pibake-subpath': { problems: ["loading it threw Error: Cannot find package 'pibake'"], hint: 'the package has no subpaths' },
  'imports-missing-file': { problems: ['loading it threw Error: Cannot find module'], hint: 'need their .ts extension' },
}

/** The fixture as a .ts file: itself, or (for the ones tsc must not see) a temporary copy of the .txt. */
function recipeFile(name: string): string {
  const ts = join(invalid, `${name}.ts`)
  if (readdirSync(invalid).includes(`${name}.ts`)) return ts
  const copy = join(scratch, `${name}.ts`)
  copyFileSync(join(invalid, `${name}.txt`), copy)
  return copy
}

async function recipeError(file: string): Promise<RecipeError> {
  const error = await loadRecipe(file, { outDir: join(scratch, 'out') }).then(() => undefined, (e: unknown) => e)
  if (error === undefined) assert.unreachable(`${basename(file)} loaded without an error`)
  assert.instance(error, RecipeError, String(error))
  return error as RecipeError
}

for (const [name, expected] of Object.entries(cases)) {
  test(`invalid/${name}: ${expected.problems.join(' | ')}`, async () => {
    const error = await recipeError(recipeFile(name))
    const shown = `\n${error.message}\nhint: ${error.hint}`
    assert.is(error.problems.length, expected.problems.length, `problem count${shown}`)
    expected.problems.forEach((start, i) => {
      assert.ok(error.problems[i]?.startsWith(start), `problem ${i} should start with:\n  ${start}${shown}`)
    })
    if (expected.hint) assert.ok(error.hint?.includes(expected.hint), `hint should include ${expected.hint}${shown}`)
  })
}

test('every invalid fixture has a row in the table, and every row a fixture', () => {
  const names = readdirSync(invalid).map((file) => file.replace(/\.(ts|txt)$/, ''))
  assert.equal(names.sort(), Object.keys(cases).sort())
})

test('a syntax error shows the offending line with a caret under it', async () => {
  const error = await recipeError(recipeFile('syntax-error'))
  assert.match(error.problems[0] ?? '', /\n\s+name: 'lab',,\n\s+\^\n/)
})

test('a recipe that throws keeps the original error as the cause', async () => {
  const error = await recipeError(recipeFile('throws-while-loading'))
  assert.instance(error.cause, Error)
  assert.is((error.cause as Error).message, 'LAB_SERVER is not set')
})

test('a recipe path that does not exist is a PibakeError naming the absolute path', async () => {
  try {
    await loadRecipe(join(fixtures, 'no-such-recipe.ts'))
    assert.unreachable()
  } catch (error) {
    assert.instance(error, PibakeError)
    assert.not.instance(error, RecipeError)
    assert.is((error as PibakeError).message, `recipe ${fixtures}/no-such-recipe.ts does not exist`)
    assert.ok((error as PibakeError).hint)
  }
})

test('a folder given as the recipe is refused', async () => {
  try {
    await loadRecipe(fixtures)
    assert.unreachable()
  } catch (error) {
    assert.instance(error, PibakeError)
    assert.match((error as Error).message, 'is not a file')
  }
})

test.after(() => rmSync(scratch, { recursive: true, force: true }))

test.run()
