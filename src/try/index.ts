/**
 * `pibake try`: one node of a recipe's live build booted on this machine, as the fleet would boot
 * it, before any Pi is plugged in. A private LAN (network namespaces and a bridge; nothing touches
 * the host's network) holds the boot server at the recipe's server address running the site's
 * published `dnsmasq.conf`, the NFS server at its address serving the published `ganesha.conf`
 * (rpcbind + nfs-ganesha: this kernel may have no nfsd, and the host's own NFS server is not ours
 * to reconfigure), and, in proxy mode, a stand-in for the LAN's own DHCP server. The node first asks
 * as its firmware does (DHCP with the PXE vendor class, then its boot files over TFTP, compared with
 * the published ones), then boots those files under QEMU on the same LAN with its own MAC: the
 * kernel takes its lease from dnsmasq and mounts its root from the NFS server. The phases seen are
 * reported as they happen; then the serial console is attached, or a command runs over SSH with a
 * throw-away key (initrd.ts), or the node keeps running until Ctrl-C. Everything started is stopped
 * by PID and every namespace deleted, on success, failure and interrupt.
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { InterruptedError, PibakeError } from '../errors.ts'
import { macDir } from '../netboot/layout.ts'
import type { Node, Recipe } from '../recipe/types.ts'
import { isBuildId } from '../site/names.ts'
import { archOfMachine, elfMachine } from '../stages/extract.ts'
import { exec } from '../system/exec.ts'
import { requirePrograms } from '../system/preflight.ts'
import { attachConsole } from './console.ts'
import { startDnsmasq } from './dnsmasq.ts'
import { firmwareDhcp, tftpGet } from './firmware.ts'
import { initrdWithKey } from './initrd.ts'
import { recordReads, residentReadSet, RESIDENT_FILES_COMMAND, writeReadSet, type ReadRecorder } from './reads.ts'
import { rootNeeds } from '../roots/modes.ts'
import { READS_VERSION } from '../rehearse/reads.ts'
import { Lan, type HostSpec } from './lan.ts'
import { startNfsServer } from './nfs-server.ts'
import { BOARDS, consoleTail, guestSsh, waitForSsh, type Guest, type GuestArch } from './qemu.ts'
import { bootOnLan } from './tap.ts'

/** What the QEMU board adds to the published command line: its serial console. */
export const CONSOLE_ARG = 'console=ttyAMA0'
/**
 * And what emulation needs: systemd gives a device 90 s to appear before the units that need it
 * fail (the serial console's getty, a zram swap), and a unit 90 s to start (systemd-modules-load
 * timed out in a boot test with two guests on 2 cores at load 15-37); an emulated CPU on a busy
 * host can take longer. 300 s each.
 */
export const SLOW_DEVICES_ARG = 'systemd.default_device_timeout_sec=300 systemd.default_timeout_start_sec=300'

export interface TryOptions {
  /** Hostname or MAC of the node (default: the recipe's first node). */
  readonly node?: string
  /** Runs this over SSH once the node answers, and returns its exit status. */
  readonly command?: string
  /** Attaches the serial console (Ctrl-] leaves). */
  readonly console?: boolean
  /** From QEMU starting to sshd answering (default 600 s). */
  readonly timeoutS?: number
  readonly signal?: AbortSignal
  /** Each phase, one line (default: to stderr). */
  readonly say?: (line: string) => void
  /**
   * Records the build's root read set (what the NFS server reads, in order, until the node is
   * running) beside the build as `<id>.reads.json`, for the storm's root phase (reads.ts).
   */
  readonly recordReads?: boolean
}

export interface TryResult {
  /** The command's exit status (0 without a command). */
  readonly status: number
  /** `systemctl is-system-running` at the end, when the node answered. */
  readonly state: string | undefined
  /** The node's failed units, one per line. */
  readonly failed: readonly string[]
}

/** A command's own exit status is the result, whatever it is. */
const ANY_STATUS = Array.from({ length: 256 }, (_, status) => status)

/** The boot server, the NFS server and the DHCP stand-in on the try LAN. */
const SERVER = 'srv'
const NFS = 'nfs'
const DHCP = 'dhcp'
const FIRMWARE = 'fw'

export async function tryNode(recipe: Recipe, options: TryOptions = {}): Promise<TryResult> {
  const say = options.say ?? ((line: string) => process.stderr.write(`try: ${line}\n`))
  const node = pickNode(recipe, options.node)
  const arch = recipe.image.arch ?? (await builtArch(recipe))
  const site = publishedSite(recipe, node, arch)
  // An image root's reads are listed on the node (reads.ts); a tree's are watched on the server, with fatrace.
  const imageRoot = rootNeeds(recipe.netboot).image
  await requirePrograms(['ip', 'setpriv', 'dnsmasq', 'ganesha.nfsd', 'rpcbind', 'busybox', 'curl', 'ssh', 'ssh-keygen', 'unshare', BOARDS[arch].qemu, ...(options.recordReads && !imageRoot ? ['fatrace'] : [])])
  if (options.recordReads && !isBuildId(site.build)) throw new PibakeError(`${node.hostname}'s cmdline.txt names no build (${site.build}): there is no build to record the reads of`, `pibake build ${recipe.file} publishes it`)
  const dir = await mkdtemp(join(tmpdir(), 'pibake-try-'))
  const removeDir = () => rmSync(dir, { recursive: true, force: true })
  process.once('exit', removeDir)
  const lan = new Lan('pibake-try', { ownSignals: false })
  let guest: Guest | undefined
  let recorder: ReadRecorder | undefined
  const interrupted = () => options.signal?.aborted === true
  try {
    await chmod(dir, 0o755)
    say(`${node.hostname} (${node.mac}, Raspberry Pi ${node.model}) of ${recipe.name}, build ${site.build}`)
    await lan.setup(lanHosts(recipe, node))
    checkAbort(options.signal)
    const user = await dnsmasqUser(site.tftpDir, say)
    const dnsmasq = await startDnsmasq(lan, SERVER, await dnsmasqConf(site.dnsmasqConf, dir), dir, user)
    const nfsDir = await mkdtemp(join(dir, 'nfs-'))
    const nfs = await startNfsServer(lan.ns(recipe.netboot.nfs.server === recipe.netboot.server ? SERVER : NFS), { dir: nfsDir, exports: readFileSync(site.ganeshaConf, 'utf8') })
    lan.track(nfs.rpcbindPid)
    lan.track(nfs.pid)
    if (options.recordReads && !imageRoot) {
      recorder = await recordReads({ recipeDir: join(site.nfsPath, recipe.name), recipe: recipe.name, build: site.build, mac: node.mac, serverPid: nfs.pid, dir, seconds: (options.timeoutS ?? 600) + 900 })
      say(`recording the root read set: fatrace on ${join(site.nfsPath, recipe.name)}, ganesha's reads (PID ${nfs.pid})`)
    }
    if (recipe.netboot.dhcp.mode === 'proxy') await startDhcpStandIn(lan, recipe.netboot.dhcp.network, dir)
    say(`LAN ${lan.lanNs}: dnsmasq (${site.dnsmasqConf}) at ${recipe.netboot.server}, nfs-ganesha (${site.ganeshaConf}) at ${recipe.netboot.nfs.server}`)
    checkAbort(options.signal)

    // As the firmware: a lease with the PXE answer, then the boot files over TFTP.
    const lease = await firmwareDhcp(lan, FIRMWARE, dir, node.mac, { tries: 5, seconds: 4, pxe: recipe.netboot.dhcp.mode !== 'proxy' })
    if (!lease?.ip) throw new PibakeError(`${node.hostname}: no DHCP answer to its firmware's request (${node.mac})`, `see dnsmasq's log: ${dnsmasq.logFile}`)
    if (recipe.netboot.dhcp.mode === 'proxy') {
      // The address comes from the LAN's DHCP server (here try's stand-in), the boot menu from proxy DHCP.
      say(`lease: ${lease.ip} from ${lease.serverid ?? '?'} (the LAN's DHCP server, stood in for by try; proxy DHCP at ${recipe.netboot.server} adds the boot menu, not checked here)`)
    } else {
      say(`lease: ${lease.ip} from ${lease.serverid ?? '?'}${lease.opt43 ? ' with the PXE boot menu' : ''}`)
      if (!lease.opt43) throw new PibakeError(`${node.hostname}: the DHCP answer has no PXE boot menu (option 43): a Pi would not boot from the network`, `see dnsmasq's log: ${dnsmasq.logFile}`)
    }
    const fetched: Record<string, string> = {}
    for (const name of site.files) {
      const bytes = await tftpGet(lan, FIRMWARE, dir, recipe.netboot.server, name)
      const published = await readFile(join(site.tftpDir, name))
      if (!bytes.equals(published)) throw new PibakeError(`${node.hostname}: ${name} over TFTP differs from the published file`, `compare ${join(site.tftpDir, name)} with what dnsmasq serves (${dnsmasq.logFile})`)
      fetched[name] = join(dir, `fetched-${name}`)
      say(`tftp: ${name} (${mebibytes(bytes.length)}, sha256 ${sha256(bytes).slice(0, 12)}…, as published)`)
    }
    await lan.run(FIRMWARE, ['ip', 'link', 'set', 'eth0', 'down'])
    checkAbort(options.signal)

    // The kernel: the fetched files, the published command line plus the board's console.
    const key = join(dir, 'id_try')
    await exec(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'pibake-try', '-f', key])
    const initrd = join(dir, 'initrd-try')
    await initrdWithKey(fetched[site.initramfs]!, await readFile(`${key}.pub`, 'utf8'), initrd)
    const append = `${(await readFile(fetched['cmdline.txt']!, 'utf8')).trim()} ${CONSOLE_ARG} ${SLOW_DEVICES_ARG}`
    const address = node.ip ?? lease.ip
    const started = performance.now()
    guest = await bootOnLan(lan, {
      arch,
      tap: 'tap-try',
      address,
      sshFrom: SERVER,
      kernel: fetched[site.kernel]!,
      initrd,
      append,
      mac: node.mac,
      serialLog: join(dir, 'console.log'),
      ...(options.console ? { serialSocket: join(dir, 'console.sock') } : {}),
    })
    lan.track(guest.pid)
    say(`kernel: ${site.kernel} + ${site.initramfs} under ${BOARDS[arch].qemu} (${BOARDS[arch].cpu}), the published cmdline.txt + ${CONSOLE_ARG} ${SLOW_DEVICES_ARG}; console ${join(dir, 'console.log')}`)
    const watch = watchBoot(dnsmasq.log, node.mac, say, options.signal)
    if (options.console) {
      say('console: attached (Ctrl-] leaves, and stops the node)')
      await attachConsole(guest.options.serialSocket!, guest, options.signal)
      watch.stop()
      return { status: 0, state: undefined, failed: [] }
    }
    await raceAbort(waitForSsh(guest, key, (options.timeoutS ?? 600) * 1000), options.signal)
    watch.stop()
    const root = await guestSsh(guest, key, 'findmnt -n -o SOURCE,FSTYPE,OPTIONS /', { timeoutS: 30 })
    say(`root: ${root.stdout.trim()}`)
    say(`ssh: root@${address} answers (${((performance.now() - started) / 1000).toFixed(0)} s after QEMU started)`)
    if (options.recordReads) {
      const running = await raceAbort(guestSsh(guest, key, 'systemctl is-system-running --wait', { timeoutS: options.timeoutS ?? 600, okCodes: ANY_STATUS }), options.signal)
      const until = `multi-user: ${running.stdout.trim()}`
      if (recorder) {
        const recorded = await recorder.finish(until)
        say(`read set: ${recorded.files} files, ${mebibytes(recorded.bytes)}, read by the NFS server until multi-user (${running.stdout.trim()}): ${recorded.file}`)
      } else {
        const seconds = Math.round((performance.now() - started) / 1000)
        // A file gone between find and fincore makes fincore fail on it alone: the rest is listed.
        const listed = await raceAbort(guestSsh(guest, key, RESIDENT_FILES_COMMAND, { timeoutS: options.timeoutS ?? 600, okCodes: ANY_STATUS }), options.signal)
        const files = residentReadSet(listed.stdout)
        if (!files.length) throw new PibakeError(`${node.hostname} listed no file of its root in memory (exit ${listed.exitCode}: ${listed.stderr.trim().split('\n').at(-1) ?? ''})`, 'the read set of an image root needs find, xargs and fincore (util-linux) in the image')
        const recorded = await writeReadSet(join(site.nfsPath, recipe.name), { version: READS_VERSION, build: site.build, recipe: recipe.name, until, seconds, files })
        say(`read set: ${recorded.files} files of the image with ${mebibytes(recorded.bytes)} in the node's memory at multi-user (${running.stdout.trim()}), listed on the node: ${recorded.file}; the next build's image puts them first`)
      }
    }
    let status = 0
    if (options.command !== undefined) {
      const result = await raceAbort(guestSsh(guest, key, options.command, { timeoutS: options.timeoutS ?? 600, okCodes: ANY_STATUS }), options.signal)
      if (result.stdout) process.stdout.write(result.stdout.endsWith('\n') ? result.stdout : `${result.stdout}\n`)
      if (result.stderr) process.stderr.write(result.stderr.endsWith('\n') ? result.stderr : `${result.stderr}\n`)
      status = result.exitCode
    } else {
      const state = await raceAbort(guestSsh(guest, key, 'systemctl is-system-running --wait', { timeoutS: options.timeoutS ?? 600, okCodes: ANY_STATUS }), options.signal)
      say(`multi-user: ${state.stdout.trim()} (${((performance.now() - started) / 1000).toFixed(0)} s after QEMU started)`)
      say(`reach it with: ip netns exec ${lan.ns(SERVER)} ssh -i ${key} root@${address}   (Ctrl-C here stops it)`)
      await waitForAbort(options.signal, guest)
    }
    const state = (await guestSsh(guest, key, 'systemctl is-system-running', { timeoutS: 30, okCodes: ANY_STATUS })).stdout.trim()
    const failed = (await guestSsh(guest, key, 'systemctl list-units --failed --plain --no-legend', { timeoutS: 30, okCodes: ANY_STATUS })).stdout.split('\n').filter(Boolean)
    say(failed.length ? `failed units:\n${failed.map((line) => `  ${line}`).join('\n')}` : `failed units: none (${state})`)
    return { status, state, failed }
  } catch (error) {
    if (interrupted()) throw options.signal?.reason instanceof InterruptedError ? options.signal.reason : error
    if (guest && !(error instanceof PibakeError)) throw new PibakeError(`${node.hostname} did not come up: ${error instanceof Error ? error.message : String(error)}`, `the console is above; the whole of it was ${join(dir, 'console.log')}`)
    throw error
  } finally {
    if (guest) say(`stopping ${node.hostname}; removing the LAN`)
    await recorder?.stop()
    await guest?.stop()
    await lan.close()
    process.off('exit', removeDir)
    removeDir()
  }
}

function pickNode(recipe: Recipe, wanted: string | undefined): Node {
  const first = recipe.nodes[0]
  if (!first) throw new PibakeError(`recipe ${recipe.name} lists no nodes`, 'add one to nodes: [...] and publish again')
  if (wanted === undefined) return first
  const node = recipe.nodes.find((n) => n.hostname === wanted || n.mac === wanted.toLowerCase())
  if (!node) throw new PibakeError(`recipe ${recipe.name} has no node "${wanted}"`, `its nodes: ${recipe.nodes.map((n) => n.hostname).join(', ')}`)
  return node
}

interface PublishedSite {
  readonly build: string
  /** The NFS target's folder (`<nfs>`: the recipe's builds are under `<nfs>/<recipe>/builds`). */
  readonly nfsPath: string
  readonly dnsmasqConf: string
  readonly ganeshaConf: string
  /** The node's TFTP folder (its MAC folder, a link into the live build's boot files). */
  readonly tftpDir: string
  readonly kernel: string
  readonly initramfs: string
  /** What the node fetches over TFTP before its kernel runs, in order. */
  readonly files: readonly string[]
}

/** The site's published files for this node, on this machine; a recipe published elsewhere is refused. */
function publishedSite(recipe: Recipe, node: Node, arch: GuestArch): PublishedSite {
  const target = recipe.publish[0]
  if (!target) throw new PibakeError(`recipe ${recipe.name} has no publish target`, 'pibake try boots what publish wrote')
  const remote = [target.nfs, target.tftp, target.config].find((where) => where.kind !== 'local')
  if (remote?.kind === 'ssh') {
    throw new PibakeError(
      `recipe ${recipe.name} is published to ${remote.host}, not to this machine: pibake try boots a build published here`,
      'run pibake try on the server itself, or add a local publish target to try the build',
    )
  }
  const tftpDir = join(target.tftp.path, macDir(node.mac))
  const dnsmasqConf = join(target.config.path, 'dnsmasq.conf')
  const ganeshaConf = join(target.config.path, 'ganesha.conf')
  const { kernel, initramfs } = bootNames(arch, node)
  const files = ['config.txt', 'cmdline.txt', kernel, initramfs]
  for (const file of [dnsmasqConf, ganeshaConf, ...files.map((name) => join(tftpDir, name))]) {
    if (!existsSync(file)) throw new PibakeError(`${file} is missing: ${node.hostname} of ${recipe.name} is not published here`, `pibake build ${recipe.file} publishes it`)
  }
  const build = readFileSync(join(tftpDir, 'cmdline.txt'), 'utf8').match(/\/builds\/([^/\s,]+)/)?.[1] ?? '?'
  return { build, nfsPath: target.nfs.path, dnsmasqConf, ganeshaConf, tftpDir, kernel, initramfs, files }
}

/** A recipe that leaves `image.arch` out: the architecture of the live build's dpkg, as the extract stage reads it. */
async function builtArch(recipe: Recipe): Promise<GuestArch> {
  const nfs = recipe.publish[0]?.nfs
  const dpkg = nfs?.kind === 'local' ? join(nfs.path, recipe.name, 'current', 'usr/bin/dpkg') : undefined
  const arch = dpkg ? archOfMachine(await elfMachine(dpkg)) : undefined
  if (!arch) throw new PibakeError(`the architecture of ${recipe.name}'s live build is unknown (no readable ${dpkg ?? 'published root'})`, `set image.arch in ${recipe.file}, or publish the recipe first (pibake build ${recipe.file})`)
  return arch
}

/** The kernel and initramfs this node's firmware loads (`auto_initramfs=1`): by architecture and model. */
export function bootNames(arch: GuestArch, node: Pick<Node, 'model'>): { kernel: string; initramfs: string } {
  if (arch === 'armhf') return ['4B', '400', 'CM4'].includes(node.model) ? { kernel: 'kernel7l.img', initramfs: 'initramfs7l' } : { kernel: 'kernel7.img', initramfs: 'initramfs7' }
  return ['5', '500', 'CM5'].includes(node.model) ? { kernel: 'kernel_2712.img', initramfs: 'initramfs_2712' } : { kernel: 'kernel8.img', initramfs: 'initramfs8' }
}

/** The boot server, the NFS server when it is another address, the DHCP stand-in in proxy mode, and the firmware's host. */
function lanHosts(recipe: Recipe, node: Node): HostSpec[] {
  const { server, nfs, dhcp, interface: ifname } = recipe.netboot
  const prefix = dhcp.mode === 'range' ? prefixLength(dhcp.netmask) : 24
  return [
    { name: SERVER, address: `${server}/${prefix}`, ...(ifname ? { ifname } : {}) },
    ...(nfs.server === server ? [] : [{ name: NFS, address: `${nfs.server}/${prefix}` }]),
    ...(dhcp.mode === 'proxy' ? [{ name: DHCP, address: `${standInAddress(dhcp.network)}/24` }] : []),
    { name: FIRMWARE, mac: node.mac },
  ]
}

function prefixLength(netmask: string): number {
  return netmask.split('.').reduce((bits, octet) => bits + Number(octet).toString(2).replaceAll('0', '').length, 0)
}

/** The proxy-mode stand-in for the LAN's DHCP server: `.254` of the network, handing out `.100`–`.199`. */
function standInAddress(network: string): string {
  return network.replace(/\.\d+$/, '.254')
}

async function startDhcpStandIn(lan: Lan, network: string, dir: string): Promise<void> {
  const base = network.replace(/\.\d+$/, '')
  const conf = join(dir, 'dhcp-stand-in.conf')
  await writeFile(conf, ['# pibake try: the LAN\'s own DHCP server, which proxy DHCP stands beside.', 'port=0', 'bind-dynamic', 'log-dhcp', '# No ping before an offer: it delays the answer past the firmware\'s patience.', 'no-ping', `dhcp-range=${base}.100,${base}.199,255.255.255.0,1h`, ''].join('\n'))
  const own = await mkdtemp(join(dir, 'dhcp-'))
  await chmod(own, 0o755)
  await startDnsmasq(lan, DHCP, conf, own)
}

/**
 * The packaged dnsmasq drops to user `dnsmasq`, which must be able to read the TFTP tree, as on the
 * boot server. A tree published under a private folder (a clone in /root, a mkdtemp folder) is not:
 * try then runs dnsmasq as root, in its namespace, and says what a boot server would need.
 */
async function dnsmasqUser(tftpDir: string, say: (line: string) => void): Promise<string> {
  const probe = await exec(['setpriv', '--reuid=dnsmasq', '--regid=nogroup', '--clear-groups', 'test', '-r', join(tftpDir, 'cmdline.txt')], { okCodes: [1] })
  if (probe.exitCode === 0) return 'dnsmasq'
  say(`note: user dnsmasq cannot read ${tftpDir} (a folder above it is private), so dnsmasq runs as root here; a boot server's dnsmasq needs the TFTP tree readable by user dnsmasq`)
  return 'root'
}

/**
 * The published configuration as dnsmasq reads it; only a `log-facility=` line (the site's own log,
 * which `pibake serve` reads for real boots) is pointed into try's folder instead.
 */
async function dnsmasqConf(published: string, dir: string): Promise<string> {
  const text = await readFile(published, 'utf8')
  if (!/^log-facility=/m.test(text)) return published
  const copy = join(dir, 'dnsmasq.conf')
  await writeFile(copy, text.replace(/^log-facility=.*$/m, `log-facility=${join(dir, 'dnsmasq-srv.log')}`))
  return copy
}

/** Reports the kernel's own DHCP lease (dnsmasq's log) as it happens. */
function watchBoot(log: () => string, mac: string, say: (line: string) => void, signal: AbortSignal | undefined): { stop(): void } {
  let stopped = false
  const seen = log().length
  void (async () => {
    while (!stopped && !signal?.aborted) {
      const ack = new RegExp(`DHCPACK\\([^)]*\\) (\\S+) ${mac}`, 'i').exec(log().slice(seen))
      if (ack) return say(`dhcp: the kernel took ${ack[1]} from dnsmasq; mounting its root over NFS`)
      await sleep(500, undefined, { ref: false })
    }
  })()
  return { stop: () => { stopped = true } }
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason
}

/** `work`, or the interrupt, whichever comes first. */
async function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work
  checkAbort(signal)
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  work.catch(() => {})
  try {
    return await Promise.race([work, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort!)
  }
}

/** Until Ctrl-C (or QEMU ends by itself). */
async function waitForAbort(signal: AbortSignal | undefined, guest: Guest): Promise<void> {
  while (!signal?.aborted && guest.exit() === undefined) await sleep(500)
  if (guest.exit() !== undefined) throw new PibakeError(`QEMU exited (${guest.exit()})`, consoleTail(guest))
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function mebibytes(bytes: number): string {
  return bytes < 1024 * 1024 ? `${bytes} bytes` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
