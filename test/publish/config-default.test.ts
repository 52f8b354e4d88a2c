/**
 * A target's `config` left out: the site's records and dnsmasq.conf, exports, ganesha.conf, hosts go
 * to the folder beside the TFTP root (`<tftp>-site`), never into it, where TFTP would serve them to
 * any host on the LAN. A site published before that (everything in `<tftp>`) keeps working: the
 * publish refuses before copying anything and names the `config:` line that keeps the old place;
 * with that line, or after moving the files as the hint says, publishing goes on. And what TFTP
 * serves of a build is only what a firmware fetches.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { build } from '../../src/build.ts'
import { PibakeError } from '../../src/errors.ts'
import type { BuildEvent } from '../../src/pipeline/events.ts'
import type { PublishTargetInput } from '../../src/recipe/types.ts'
import { makeProject, type Project } from '../helpers/project.ts'

const SITE_FILES = ['dnsmasq.conf', 'exports', 'ganesha.conf', 'hosts', 'pibake']
let project: Project

test.before(async () => {
  project = await makeProject()
  // What Raspberry Pi Imager leaves on a boot partition: a password hash, a first-boot script.
  await project.write('bootfs/userconf.txt', 'pi:$6$rounds=656000$salt$hash\n')
  await project.write('bootfs/firstrun.sh', '#!/bin/sh\necho wifi-psk\n')
  await project.write('bootfs/issue.txt', 'Raspberry Pi reference\n')
})
test.after(async () => {
  await project.remove()
})

async function publish(site: string, target: Partial<PublishTargetInput> = {}): Promise<BuildEvent[]> {
  const events: BuildEvent[] = []
  const recipe = project.recipe((input) => void (input.publish = [{ nfs: join(project.dir, site, 'nfs'), tftp: join(project.dir, site, 'tftp'), ...target }]))
  await build(recipe, { outDir: project.out, onEvent: (event) => events.push(event) })
  return events
}

/** Every path under a folder, relative to it. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.map((e) => relative(dir, join(e.parentPath, e.name))).sort()
}

test('config left out: records and server configuration beside the TFTP root, nothing of them in it', async () => {
  await publish('fresh')
  const tftp = join(project.dir, 'fresh/tftp')
  const site = join(project.dir, 'fresh/tftp-site')
  for (const name of SITE_FILES) assert.ok(existsSync(join(site, name)), `${name} in ${site}`)
  assert.ok(existsSync(join(site, 'pibake/test-node.json')))
  assert.match(await readFile(join(site, 'dnsmasq.conf'), 'utf8'), `tftp-root=${tftp}`)
  const served = await tree(tftp)
  assert.equal(served.filter((path) => SITE_FILES.includes(path.split('/')[0]!) || /\.json$|dnsmasq|exports|ganesha/.test(path)), [], 'the TFTP root serves no site file')
  assert.equal((await readdir(tftp)).sort(), ['builds', 'dc-a6-32-00-00-01', 'dc-a6-32-00-00-02'])
})

test("a node's TFTP folder holds only what a firmware fetches: no userconf.txt, firstrun.sh, issue.txt", async () => {
  const tftp = join(project.dir, 'fresh/tftp')
  const files = await tree(join(tftp, 'dc-a6-32-00-00-01/'))
  assert.equal(files, [
    'bcm2711-rpi-4-b.dtb', 'bcm2712-rpi-5-b.dtb', 'cmdline.txt', 'config.txt', 'fixup4.dat', 'initramfs8', 'initramfs_2712', 'kernel8.img', 'kernel_2712.img', 'overlays', 'overlays/README', 'start4.elf',
  ])
  const everywhere = await tree(tftp)
  for (const name of ['userconf.txt', 'firstrun.sh', 'issue.txt']) assert.not.ok(everywhere.some((path) => path.endsWith(name)), `${name} is served by TFTP`)
})

test('a site published with everything in the TFTP root: refused with the config line that keeps it, nothing written', async () => {
  // What the former default wrote: config = tftp.
  const tftp = join(project.dir, 'old/tftp')
  await publish('old', { config: tftp })
  const before = await readFile(join(tftp, 'pibake/test-node.json'), 'utf8')
  const error = await publish('old').then(() => undefined, (e: unknown) => e)
  assert.instance(error, PibakeError, String(error))
  const { message, hint } = error as PibakeError
  assert.match(message, `publish[0].config: the site at ${tftp} keeps its records and server configuration (pibake/test-node.json, dnsmasq.conf, exports, ganesha.conf, hosts) inside the TFTP root`)
  assert.match(message, `they now go to ${tftp}-site`)
  assert.match(hint ?? '', `to keep them where they are, add to publish[0]: config: ${JSON.stringify(tftp)}`)
  assert.match(hint ?? '', `point dnsmasq at ${tftp}-site/dnsmasq.conf`)
  assert.not.ok(existsSync(`${tftp}-site`), 'no second site was started')
  assert.is(await readFile(join(tftp, 'pibake/test-node.json'), 'utf8'), before, 'the record is untouched')
})

test('the old site keeps working with the hinted config line, with a warning that TFTP serves it', async () => {
  const tftp = join(project.dir, 'old/tftp')
  const before = (await stat(join(tftp, 'pibake/test-node.json'))).mtimeMs
  const events = await publish('old', { config: tftp })
  assert.ok((await stat(join(tftp, 'pibake/test-node.json'))).mtimeMs > before, 'the record at the old place was written')
  const warnings = events.flatMap((e) => (e.type === 'warning' ? [e.message] : []))
  assert.ok(warnings.some((w) => w.includes(`${tftp} is inside the TFTP root`)), warnings.join('\n'))
})

test('moved out as the hint says, the site is published with config left out', async () => {
  const tftp = join(project.dir, 'old/tftp')
  await mkdir(`${tftp}-site`)
  for (const name of SITE_FILES) await rename(join(tftp, name), join(`${tftp}-site`, name))
  const ids = async () => (JSON.parse(await readFile(join(`${tftp}-site`, 'pibake/test-node.json'), 'utf8')) as { builds: { id: string }[] }).builds.map((b) => b.id)
  const before = await ids()
  await publish('old')
  const after = await ids()
  for (const id of before) assert.ok(after.includes(id), `the moved record carried on: build ${id} is still recorded (${after.join(', ')})`)
  for (const name of SITE_FILES) assert.not.ok(existsSync(join(tftp, name)), `${name} is not back in the TFTP root`)
})

test.run()
