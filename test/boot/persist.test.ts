/**
 * The proof that `netboot.persist` keeps a node's folders: the demo image baked with
 * `persist: ['/var/lib/rancher', '/etc/rancher']` (and a file of the image's own in /etc/rancher),
 * published, served on a test LAN by the site's published `dnsmasq.conf` and `ganesha.conf`. Two
 * nodes boot under QEMU at once: each finds its folders seeded from the image and mounted read-write over
 * its read-only NFS root, writes there, and is refused the other node's export. Then the recipe
 * changes the image's file in /etc/rancher, is built and published again, and the first node
 * reboots into the new build with what it wrote and its seeded file as they were (three boots in
 * all: a reboot into the new build is the reboot the folders must survive).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { readlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { build } from '../../src/build.ts'
import { persistNodeDir } from '../../src/netboot/persist.ts'
import type { Node } from '../../src/recipe/types.ts'
import { validateRecipe } from '../../src/recipe/validate.ts'
import { mountAt } from '../helpers/guest-facts.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { guestSsh } from '../helpers/qemu.ts'
import { FLEET, publishDemoBuild, type PublishedBuild } from './published.ts'
import { bootNode, checkBootedFrom, checkNode, checkRunning, serve, type Booted, type Site } from './site.ts'

/** From QEMU starting to sshd letting root in; a limit, not a benchmark (see nfsroot.test.ts). */
const BOOT_TIMEOUT_MS = 600_000
const PERSIST = ['/var/lib/rancher', '/etc/rancher']
/** A file the image itself has in a persisted folder: seeded into each node's copy once. */
const SEED = { path: '/etc/rancher/seed.conf', first: 'from the first build\n', second: 'from the second build\n', mode: 0o640 }

let published: PublishedBuild
let site: Site
const booted = new Map<string, Booted>()
const suiteStarted = performance.now()

test.before(async () => {
  try {
    published = await publishDemoBuild('persist-test', { persist: PERSIST, rootFiles: { [SEED.path]: { content: SEED.first, mode: SEED.mode } } })
    process.stderr.write(`# demo image ${published.seconds.image.toFixed(0)} s, build + publish ${published.seconds.build.toFixed(0)} s\n`)
    site = await serve(published)
  } catch (error) {
    // uvu counts a failing before hook as failed tests but never prints why: say it here.
    process.stderr.write(`persist test setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    throw error
  }
})

test.after(async () => {
  try {
    for (const { guest } of booted.values()) await guest.stop()
    await site?.lan.close()
  } finally {
    const left = published ? await leftBehind(published.dir) : []
    await published?.remove()
    assert.equal(left, [], 'no loop device or mount is left behind')
    process.stderr.write(`# persist test file: ${((performance.now() - suiteStarted) / 1000).toFixed(0)} s in all\n`)
  }
})

function spec(name: string): Node {
  const node = published.recipe.nodes.find((n) => n.hostname === name)
  assert.ok(node?.ip, `${name} is in the recipe with an address`)
  return node
}

/** `<nfs>/_persist/<mac>` as the NFS server sees it (publish wrote it here). */
function persistDir(node: Node): string {
  return persistNodeDir(dirname(published.recipeDir), node.mac)
}

async function boot(name: string, round: number): Promise<Booted> {
  await booted.get(name)?.guest.stop()
  booted.delete(name)
  const node = spec(name)
  const result = await bootNode(site, node, node.ip ?? '', round, BOOT_TIMEOUT_MS)
  booted.set(name, result)
  return result
}

async function run(on: Booted, command: string, okCodes: readonly number[] = []): Promise<{ exitCode: number; out: string }> {
  const result = await guestSsh(on.guest, published.sshKey, command, { okCodes })
  return { exitCode: result.exitCode ?? -1, out: `${result.stdout}${result.stderr}`.trim() }
}

/** Each persisted folder is the node's own export on the NFS server, read-write, over the read-only root. */
function checkPersistMounts(on: Booted): void {
  for (const folder of PERSIST) {
    const mount = mountAt(on.facts, folder)
    assert.is(mount.type, 'nfs', `${on.node.hostname}: ${folder} is mounted over NFS`)
    assert.ok(mount.options.includes('rw'), `${on.node.hostname}: ${folder} is read-write (${mount.options.join(',')})`)
    assert.ok(mount.device.startsWith(`${FLEET.nfsServer}:${persistDir(on.node)}`), `${on.node.hostname}: ${folder} is its own folder on the NFS server (${mount.device})`)
  }
}

test('two nodes boot with their persisted folders seeded from the image, mounted read-write, and write there', async () => {
  // Both at once (systemd's device timeout on the cmdline carries two emulated boots on 2 cores).
  const results = await Promise.allSettled(['boot-a', 'boot-b'].map((name) => boot(name, 1)))
  for (const result of results) if (result.status === 'rejected') throw result.reason
  for (const name of ['boot-a', 'boot-b']) {
    const on = booted.get(name)
    assert.ok(on, `${name} runs`)
    checkNode(published, on, spec(name).ip ?? '')
    checkPersistMounts(on)
    const server = join(persistDir(on.node), SEED.path)
    assert.is(readFileSync(server, 'utf8'), SEED.first, 'the seed is the image\'s file')
    assert.is((statSync(server).mode & 0o7777).toString(8), SEED.mode.toString(8), "with the image's mode")
    const seen = await run(on, `cat ${SEED.path}; stat -c '%a %U' ${SEED.path}; systemctl is-active pibake-persist.service`)
    assert.is(seen.out, `${SEED.first.trim()}\n640 root\nactive`, `${name} reads the seeded file as the image had it`)
    await run(on, `echo "state of ${name}" > /var/lib/rancher/state && echo "token of ${name}" > /etc/rancher/token && sync`)
    assert.is(readFileSync(join(persistDir(on.node), 'var/lib/rancher/state'), 'utf8'), `state of ${name}\n`, 'the write reached its folder on the server')
    // boot-a is done here (it boots the rebuild below), boot-b runs on for the next test.
    if (name === 'boot-a') {
      await on.guest.stop()
      booted.delete(name)
    }
  }
})

test("a node is refused the other node's persisted folders by the NFS server", async () => {
  const b = booted.get('boot-b')
  assert.ok(b, 'boot-b runs')
  const a = { node: spec('boot-a') }
  const mount = (node: Node) => `mount -t nfs -o rw,vers=3,nolock ${FLEET.nfsServer}:${persistDir(node)} /mnt 2>&1 && ls /mnt/var/lib/rancher; umount /mnt 2>/dev/null; true`
  const own = await run(b, mount(b.node))
  assert.match(own.out, /^state$/m, 'boot-b may mount its own export (the check below can succeed)')
  const theirs = await run(b, mount(a.node))
  assert.not.match(theirs.out, /^state$/m, `boot-b must not see boot-a's folder: ${theirs.out}`)
  assert.match(theirs.out, /denied|not permitted/i, `boot-b is refused boot-a's folder by the server: ${theirs.out}`)
  assert.is((await run(b, 'cat /var/lib/rancher/state')).out, 'state of boot-b', "boot-b's own folder holds only its own state")
  await b.guest.stop()
  booted.delete('boot-b')
})

test('after a rebuild of a changed recipe and a reboot, the node boots the new build with its folders as it left them, seeds untouched', async () => {
  writeFileSync(join(published.overlay, 'rootfs', SEED.path), SEED.second)
  const recipe = validateRecipe(published.input, join(published.dir, 'recipe.ts'), { outDir: published.out })
  const started = performance.now()
  await build(recipe, { outDir: published.out })
  const id = (await readlink(join(published.recipeDir, 'current'))).replace(/^builds\//, '')
  process.stderr.write(`# rebuild + publish ${((performance.now() - started) / 1000).toFixed(0)} s: build ${id}\n`)
  assert.is.not(id, published.id, 'the changed recipe is a new build')
  const root = join(published.recipeDir, 'builds', id)
  assert.is(readFileSync(join(root, SEED.path), 'utf8'), SEED.second, 'the new build has the new file')
  assert.is(readFileSync(join(persistDir(spec('boot-a')), SEED.path), 'utf8'), SEED.first, "the node's seeded copy is never overwritten")
  const on = await boot('boot-a', 2)
  checkBootedFrom({ ...published, id, root }, on)
  checkRunning(published, on, spec('boot-a').ip ?? '')
  checkPersistMounts(on)
  assert.is((await run(on, `cat /var/lib/rancher/state /etc/rancher/token ${SEED.path}`)).out, `state of boot-a\ntoken of boot-a\n${SEED.first.trim()}`)
})

test.run()
