/**
 * A storm stops by itself at its deadline even while a node is in the middle of one long read (an
 * image root reads its image in 4 MiB calls), and the bytes that node read before the deadline
 * count in its report (the aggregate MB/s of a storm cut short is made of them). Against real
 * ganesha: one simulated Pi 5 whose cmdline gives a squashfs root, an image far larger than a
 * deadline of 30 s lets it read (sparse: zeros cost ganesha no disk).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderDnsmasqConf } from '../../src/netboot/dnsmasq.ts'
import { renderGaneshaExports } from '../../src/netboot/exports.ts'
import type { Dhcp } from '../../src/recipe/types.ts'
import { node, recipe } from '../helpers/netboot-recipe.ts'
import { rootStormOnLan } from '../helpers/root-lan.ts'
import { demoBootTree, simulatedPis } from '../helpers/storm-lan.ts'

const ID = '20261207-130000-0000beef'
const dir = mkdtempSync(join(tmpdir(), 'pibake-root-stop-'))
chmodSync(dir, 0o755)
test.after(() => rmSync(dir, { recursive: true, force: true }))

const dhcp: Dhcp = { mode: 'range', start: '10.77.200.1', end: '10.77.200.100', netmask: '255.255.0.0', router: '10.77.0.1', dns: [] }
const pis = simulatedPis(1, ['5'], (i) => `dc:a6:32:6f:00:${i.toString(16).padStart(2, '0')}`)
const fleet = recipe({ name: 'fleet', dhcp, nodes: pis.map((pi, i) => node({ hostname: `pi${i}`, mac: pi.mac, ip: `10.77.1.${i + 1}`, model: pi.model })) })
const recipeDir = join(dir, 'nfs', 'fleet')
const buildDir = join(recipeDir, 'builds', ID)
const imageDir = join(dir, 'images')
/** More than 30 s of reading at any rate this machine's ganesha serves (sparse). */
const IMAGE = 256 * 1024 ** 3

test('the deadline stops a node in the middle of its image, and the bytes it read before count', async () => {
  mkdirSync(buildDir, { recursive: true })
  mkdirSync(imageDir, { recursive: true })
  writeFileSync(join(imageDir, `${ID}.squashfs`), '')
  truncateSync(join(imageDir, `${ID}.squashfs`), IMAGE)
  const tftpRoot = await demoBootTree(join(dir, 'boot'), pis, { trimTo: 64 * 1024 })
  const conf = join(dir, 'dnsmasq.conf')
  writeFileSync(conf, renderDnsmasqConf(fleet, { tftpRoot }))
  const exports = renderGaneshaExports(fleet, { rootPath: recipeDir }) + renderGaneshaExports({ ...fleet, name: 'images' }, { rootPath: imageDir })
  const report = await rootStormOnLan({
    conf, tftpRoot, dir, nodes: pis, exports, deadlineMs: 30_000,
    cmdline: (server) => `console=serial0,115200 root=/dev/nfs nfsroot=${server}:${buildDir},vers=3 ip=dhcp rootwait ro pibake.root=squashfs pibake.image=${server}:${join(imageDir, `${ID}.squashfs`)}\n`,
    // The read set's bytes are what a squashfs node reads of its image.
    root: { readSets: [{ version: 1, build: ID, recipe: 'fleet', until: 'multi-user: running', seconds: 40, files: [{ path: 'usr/lib/huge', size: IMAGE }] }] },
  })
  const [pi] = report.nodes
  assert.equal(pi!.completed, ['dhcp', 'tftp'], 'the node got to its root')
  assert.is(pi!.error?.phase, 'root')
  assert.is(pi!.error?.file, `${ID}.squashfs`)
  const stopped = /^stopped at (\d+) bytes: the storm's time was up$/.exec(pi!.error!.what)
  assert.ok(stopped, `the node stopped mid-image: ${pi!.error!.what}`)
  assert.ok(Number(stopped![1]) > 0 && Number(stopped![1]) < IMAGE, 'it had read part of the image')
  assert.is(pi!.bytes.root, Number(stopped![1]), 'the bytes read before the deadline are the node\'s')
})

test.run()
