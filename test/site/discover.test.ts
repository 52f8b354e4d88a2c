/**
 * `pibake discover` on a test LAN: pibake listens in one namespace on its eth0 while clients in
 * others send DISCOVERs shaped like the Pi bootloader's (a Pi 4 with option 97, a Pi 3 without, a PC,
 * a Pi the site already serves). Both sources: the socket on port 67 (alone, and beside the site's
 * dnsmasq in the same namespace), and the log of a real dnsmasq running the site's generated config.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { renderDnsmasqConf } from '../../src/netboot/dnsmasq.ts'
import type { Discovered } from '../../src/site/discover.ts'
import { recordFor } from '../../src/site/record.ts'
import { openSite, writeRecord } from '../../src/site/store.ts'
import type { Offer } from '../helpers/dhcp-client.ts'
import { startDnsmasq } from '../helpers/dnsmasq.ts'
import { node, rangeDhcp, recipe } from '../helpers/netboot-recipe.ts'
import { netbootDir, type NetbootDir } from '../helpers/netboot-tree.ts'
import { withLan, type TestLan } from '../helpers/netns.ts'

const PIBAKE = join(import.meta.dirname, '..', '..', 'bin', 'pibake.js')
const CLIENT = join(import.meta.dirname, '..', 'helpers', 'dhcp-client.ts')
const RECIPE = join(import.meta.dirname, '..', 'recipe', 'fixtures', 'valid', 'minimal.ts')

const PI4 = 'dc:a6:32:aa:bb:cc'
/** Type 0, "RPi4", revision 0x00c03111 (Pi 4B), the MAC's low 4 bytes, serial 0x1a2b3c4d (words little-endian). */
const PI4_ID = `00525069341131c00032aabbcc4d3c2b1a`
const PI3 = 'b8:27:eb:01:02:05'
const PC = '52:54:00:12:34:56'
const KNOWN = 'dc:a6:32:01:02:03'

const HOSTS = [{ name: 'srv', address: '10.77.0.1/24' }, { name: 'pi4', mac: PI4 }, { name: 'pi3', mac: PI3 }, { name: 'pc', mac: PC }, { name: 'known', mac: KNOWN }]
const ASKING: readonly { host: string; mac: string; extra: string[] }[] = [
  { host: 'pi4', mac: PI4, extra: ['--client-machine-id', PI4_ID] },
  { host: 'pi3', mac: PI3, extra: [] },
  { host: 'pc', mac: PC, extra: ['--no-arch', '--vendor-class', ''] },
  { host: 'known', mac: KNOWN, extra: ['--client-machine-id', PI4_ID] },
]

/** The site as published: the fleet's dnsmasq.conf (knowing KNOWN) under `<out>/publish/`. */
function site(tree: NetbootDir): { out: string; conf: string } {
  const conf = tree.write('out/publish/dnsmasq.conf', renderDnsmasqConf(recipe({ dhcp: rangeDhcp, nodes: [node({ hostname: 'node-1', mac: KNOWN, ip: '10.77.0.11' })] }), { tftpRoot: tree.tftpRoot }))
  return { out: join(tree.dir, 'out'), conf }
}

async function withSite(fn: (lan: TestLan, tree: NetbootDir, paths: { out: string; conf: string }) => Promise<void>): Promise<void> {
  const tree = netbootDir()
  try {
    const paths = site(tree)
    await withLan(HOSTS, async (lan) => {
      for (const { host } of ASKING) await lan.run(host, ['ip', 'route', 'replace', '255.255.255.255/32', 'dev', 'eth0'])
      await fn(lan, tree, paths)
    })
  } finally {
    tree.remove()
  }
}

/** Every client keeps sending DISCOVERs (as a Pi retries) until `done` settles; returns the answers each got. */
async function keepAsking(lan: TestLan, done: Promise<unknown>): Promise<Map<string, Offer[]>> {
  let finished = false
  void done.finally(() => { finished = true }).catch(() => undefined)
  const answers = new Map<string, Offer[]>()
  await Promise.all(ASKING.map(async ({ host, mac, extra }) => {
    while (!finished) {
      const { stdout } = await lan.run(host, [process.execPath, CLIENT, '--mac', mac, '--timeout', '0.3', ...extra])
      answers.set(mac, [...(answers.get(mac) ?? []), ...(JSON.parse(stdout) as { offers: Offer[] }).offers])
    }
  }))
  return answers
}

async function discoverOnLan(lan: TestLan, args: string[]): Promise<{ stdout: string; answers: Map<string, Offer[]> }> {
  const run = lan.run('srv', [process.execPath, PIBAKE, 'discover', '--interface', 'eth0', ...args])
  const [result, answers] = await Promise.all([run, keepAsking(lan, run)])
  return { stdout: result.stdout, answers }
}

test('socket: a Pi 4 with option 97 is printed with model and serial; a PC, a known Pi and nobody get answered', async () => {
  await withSite(async (lan, _tree, { out }) => {
    const { stdout, answers } = await discoverOnLan(lan, ['--seconds', '8', '--out', out, '--json'])
    const found = JSON.parse(stdout) as Discovered[]
    assert.equal(found.map((d) => d.mac).sort(), [PI3, PI4], stdout)
    const pi4 = found.find((d) => d.mac === PI4)!
    assert.equal([pi4.hostname, pi4.model, pi4.modelCertainty, pi4.serial, pi4.serialCertainty], ['pi-aabbcc', '4B', 'sure', '1a2b3c4d', 'likely'])
    assert.is(pi4.vendorClass, 'PXEClient:Arch:00000:UNDI:002001')
    assert.is(pi4.clientArch, 0)
    assert.is(pi4.netboot, true)
    assert.ok(pi4.requests >= 2, `a Pi retrying is one entry (${pi4.requests} requests)`)
    const pi3 = found.find((d) => d.mac === PI3)!
    assert.equal([pi3.model, pi3.modelCertainty, pi3.serial], ['3B+', 'guess', undefined])
    for (const [mac, offers] of answers) assert.equal(offers, [], `${mac} got no answer`)
  })
})

test('socket: the printed entries paste into a recipe, with how each field was inferred', async () => {
  await withSite(async (lan, _tree, { out }) => {
    const { stdout } = await discoverOnLan(lan, ['--seconds', '6', '--out', out])
    assert.match(stdout, `{ hostname: 'pi-aabbcc', mac: '${PI4}', model: '4B', serial: '1a2b3c4d' },`)
    assert.match(stdout, `{ hostname: 'pi-010205', mac: '${PI3}', model: '3B+' },`)
    assert.match(stdout, /model 4B \(sure\): option 97: "RPi4" magic, revision 0xc03111 \(Pi 4B\), MAC bytes match/)
    assert.match(stdout, /model 3B\+ \(guess\): guessed from the MAC prefix b8:27:eb/)
    assert.not.match(stdout, PC)
    assert.not.match(stdout, KNOWN)
    const entries = stdout.split('\n').filter((line) => line.startsWith('{'))
    const nodes = entries.map((line) => Function(`return (${line.replace(/,$/, '')})`)() as Record<string, string>)
    assert.equal(nodes.find((n) => n.mac === PI4), { hostname: 'pi-aabbcc', mac: PI4, model: '4B', serial: '1a2b3c4d' }, 'valid JavaScript')
  })
})

test("socket beside the site's dnsmasq in the same namespace: both hear the broadcasts (SO_REUSEADDR)", async () => {
  await withSite(async (lan, tree, { out, conf }) => {
    const dnsmasq = await startDnsmasq(lan, 'srv', conf, tree.dir)
    const { stdout, answers } = await discoverOnLan(lan, ['--seconds', '8', '--out', out, '--json'])
    assert.equal((JSON.parse(stdout) as Discovered[]).map((d) => d.mac).sort(), [PI3, PI4])
    assert.ok(answers.get(KNOWN)?.some((o) => o.yiaddr === '10.77.0.11'), 'dnsmasq still answers the known node')
    assert.equal(answers.get(PI4), [], 'the unknown Pi gets no answer')
    assert.match(dnsmasq.log(), `DHCPDISCOVER(eth0) ${PI4} ignored`)
  })
})

test("log: the site's real dnsmasq with log-dhcp; the unknown Pis come with their interface, no option 97", async () => {
  await withSite(async (lan, tree, { out, conf }) => {
    const dnsmasq = await startDnsmasq(lan, 'srv', conf, tree.dir)
    const run = pibake(['discover', '--interface', 'eth0', '--seconds', '6', '--log', dnsmasq.logFile, '--out', out, '--json'])
    const answers = await keepAsking(lan, run)
    const { code, stdout, stderr } = await run
    assert.is(code, 0, stderr)
    const found = JSON.parse(stdout) as Discovered[]
    assert.equal(found.map((d) => d.mac).sort(), [PI3, PI4], stdout)
    const pi4 = found.find((d) => d.mac === PI4)!
    assert.equal([pi4.interface, pi4.vendorClass, pi4.model, pi4.modelCertainty, pi4.serial], ['eth0', 'PXEClient:Arch:00000:UNDI:002001', '4B', 'guess', undefined])
    assert.equal(answers.get(PI4), [])

    const elsewhere = await pibake(['discover', '--interface', 'eth1', '--seconds', '0.5', '--log', dnsmasq.logFile, '--out', out, '--json'])
    assert.equal(JSON.parse(elsewhere.stdout), [], 'requests logged on another interface are not counted')

    // The known node is left out because the site knows it: without the site it shows, and a recipe
    // listing it (minimal.ts has dc:a6:32:01:02:03) leaves it out again.
    const noSite = ['discover', '--interface', 'eth0', '--seconds', '0.5', '--log', dnsmasq.logFile, '--out', join(tree.dir, 'no-site'), '--json']
    const unknownSite = JSON.parse((await pibake(noSite)).stdout) as Discovered[]
    assert.equal(unknownSite.map((d) => d.mac).sort(), [PI3, KNOWN, PI4])
    const recipeRun = await pibake([...noSite, '--recipe', RECIPE])
    assert.is(recipeRun.code, 0, recipeRun.stderr)
    assert.equal((JSON.parse(recipeRun.stdout) as Discovered[]).map((d) => d.mac).sort(), [PI3, PI4])

    // A site known by its records alone (<config>/pibake/<recipe>.json, as publishing writes them).
    const recorded = join(tree.dir, 'recorded')
    const fleet = recipe({ dhcp: rangeDhcp, nodes: [node({ hostname: 'node-1', mac: KNOWN, ip: '10.77.0.11' })] })
    await writeRecord(openSite({ kind: 'local', path: join(recorded, 'publish') }), recordFor(fleet, { nfs: { kind: 'local', path: '/srv/nfs' }, tftp: { kind: 'local', path: '/srv/tftp' } }, { builds: 3, days: 7 }, undefined, new Date()))
    const recordRun = await pibake([...noSite.slice(0, -3), '--out', recorded, '--json'])
    assert.equal((JSON.parse(recordRun.stdout) as Discovered[]).map((d) => d.mac).sort(), [PI3, PI4], recordRun.stderr)
  })
})

test('bad command lines exit 2 with a clear message', async () => {
  const cases: [string[], RegExp][] = [
    [['discover'], /needs --interface/],
    [['discover', '--interface', 'nosuch0', '--seconds', '1'], /no network interface named "nosuch0"[\s\S]*interfaces here: .*lo/],
    [['discover', '--interface', 'lo', '--seconds', 'ten'], /--seconds must be a positive number of seconds \(at most 86400\), not "ten"/],
    [['discover', '--interface', 'lo', '--seconds', '0'], /--seconds must be a positive number/],
    [['discover', '--interface', 'lo', '--log', '/nonexistent/dnsmasq.log'], /cannot read the dnsmasq log \/nonexistent\/dnsmasq.log: ENOENT/],
    [['discover', 'eth0'], /takes no arguments/],
  ]
  for (const [args, message] of cases) {
    const { code, stderr } = await pibake(args)
    assert.is(code, 2, `${args.join(' ')}: ${stderr}`)
    assert.match(stderr, message)
  }
})

function pibake(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PIBAKE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

test.run()
