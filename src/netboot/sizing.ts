/**
 * dnsmasq sized for a fleet powered on at once. What a storm rehearsal (src/rehearse/) found with
 * dnsmasq's own limits, fixed here from the fleet's size and the boot server's bandwidth:
 * - `tftp-max` (default 50): beyond it dnsmasq stops reading TFTP requests; a node whose request
 *   waits past its firmware's 30 s file timeout fails with nothing received. A node has one file
 *   in flight at a time, but a transfer its firmware gave up on stays open on the server until
 *   dnsmasq's own timeout while a Pi 3/4 asks again: up to 3 per node.
 * - but not more than the link carries, once the fleet's bytes outrun it: K transfers at once
 *   share the link, each at link/K, so the largest boot file takes K × file / link. Above
 *   link × 15 s / file (half the firmware's TFTP_FILE_TIMEOUT: the other half for the wait for a
 *   slot and for unequal shares) every transfer is late at once, and the storm delivers bytes no
 *   node can use. Below it, the transfers that run finish in time and the nodes left waiting fail
 *   an attempt; a Pi 4/5 then starts again (its BOOT_ORDER restarts, src/rehearse/firmware.ts)
 *   and is served later, so the fleet comes up in waves at the link's rate. 1 GbE (117 MB/s of
 *   payload) and the demo's 33 MiB kernel: 50 at once. The cap costs a waiting Pi 3B+ its only
 *   attempt, so it applies only when the whole fleet's bytes take the link more than 90 s: below
 *   that the nodes' files stagger by themselves. Measured with bench/storm.ts, kernels and
 *   initramfs cut to 1 MiB (largest file 4.8 MB, the 3B+'s start.elf) so that this 2-core
 *   machine's 11–14 MB/s of TFTP stands for a 1 GbE server's 117 MB/s with full-size files, at
 *   load 8–14: 200 nodes (83 s of bytes): 3 per node (600) booted 200 of 200 at 1.26 × the
 *   10-node baseline's aggregate rate, the cap (33) 195 (5 Pi 3B+ waited out their attempt) at
 *   0.84; 400 nodes (128 s of bytes): 3 per node (1200) booted 266 of 400 at 0.68 (0.52 in files
 *   of attempts that completed; every Pi 3B+ lost), the cap (42) 346 at 0.91. Both capped runs
 *   had dnsmasq's `tftp-single-port`, which a cap needs: without it dnsmasq stops reading requests
 *   at tftp-max, they queue in its socket with every repeat a waiting node sends, and once read
 *   each starts a transfer that nobody acknowledges and that holds its slot for dnsmasq's 120 s
 *   (TFTP_TRANSFER_TIME). Measured, 1,000 nodes at load 4–8: the cap (37) alone booted 5 (0.04 of
 *   the baseline's rate, dnsmasq idle at 3 % of a core, 2,343 attempts failed on config.txt);
 *   3 per node (3000) booted 96 (1.16 delivered, 0.06 in files of attempts that completed). With
 *   tftp-single-port a request beyond tftp-max is read and dropped (the node asks again a second
 *   later) and a repeated request replaces its transfer (dnsmasq's tftp.c), so it is written
 *   with the cap.
 * - open files: dnsmasq holds a socket and the file per transfer (transfers share a file only by
 *   its path, and each node reads through its own MAC folder), and caps `tftp-max` at its
 *   open-file limit less 50 ("restricting maximum simultaneous TFTP transfers to 974" under the
 *   usual soft limit of 1024): 2 per transfer, plus its own 50. Measured: 400 nodes, tftp-max
 *   1200, 1250 files: "cannot read …/start.elf: Too many open files" to a dozen nodes. It never
 *   raises the limit itself, so the unit (LimitNOFILE=) or the shell must.
 * - `dhcp-lease-max` (default 1000): every node holds a lease (range mode), and a storm of
 *   re-requests may hold a second one for a while: 2 per node.
 * What no setting fixes: the whole fleet's bytes over the link's rate; and a Pi 3B/3B+ gets one
 * attempt (its ROM does not start again), so its files must come within 30 s the first time. A
 * second address of the boot server (`netboot.pi3Server`) gives the Pi 3s a dnsmasq and transfers
 * of their own (pi3-split.ts), so that the Pi 4/5 starting again do not hold them all; how many Pi
 * 3s then come up at once is still their share of the link's bytes.
 */
export const DNSMASQ_DEFAULTS = { tftpMax: 50, dhcpLeaseMax: 1000, openFiles: 1024 } as const

/** Descriptors dnsmasq keeps apart from its TFTP transfers (its own count: 50). */
const RESERVED_FILES = 50
/** The largest file a node fetches, when nothing better is known: the demo's kernel8.img. */
export const TYPICAL_KERNEL_BYTES = 33 * 1024 * 1024
/** The TFTP bytes of one boot, when nothing better is known: the demo's, 40–43 MB by model (README). */
export const TYPICAL_BOOT_BYTES = 43_000_000
/** The firmware's TFTP_FILE_TIMEOUT. */
const FILE_TIMEOUT_S = 30
/** Above this many seconds of the whole fleet's bytes on the link, transfers at once are capped to what the link carries. */
const STAGGERED_S = 90
/** The share of TFTP_FILE_TIMEOUT the largest file may take when the link is shared by every transfer dnsmasq runs. */
const FILE_SHARE = 0.5
/** What one boot server's 1 GbE link carries in a second (about 940 Mbit/s of UDP payload). */
export const GIGABIT_BYTES = 117_000_000

/** Bytes of TFTP payload a second on a link of `mbps` Mbit/s (`netboot.bootLinkMbps`), in GIGABIT_BYTES's proportion. */
export function linkBytesPerSecond(mbps: number): number {
  return Math.round((mbps * GIGABIT_BYTES) / 1000)
}

/** What the fleet's boot puts on the boot server's link (each defaulted as said). */
export interface BootLoad {
  /** The largest boot file a node fetches, in bytes (default TYPICAL_KERNEL_BYTES). */
  readonly largestFile?: number
  /** The TFTP bytes of one node's boot (default TYPICAL_BOOT_BYTES). */
  readonly bytesPerNode?: number
  /** The boot server's link, in bytes of payload per second (default GIGABIT_BYTES). */
  readonly linkBytesPerSecond?: number
}

export interface FleetSizing {
  readonly nodes: number
  /** The tftp-max to write, undefined while dnsmasq's default is right. */
  readonly tftpMax: number | undefined
  /** Transfers the link carries at once, each within the firmware's limit (the bandwidth rule). */
  readonly linkSlots: number
  /** The dhcp-lease-max to write (range mode), undefined while the default is enough. */
  readonly dhcpLeaseMax: number | undefined
  /** The open-file limit dnsmasq needs, undefined while the usual soft limit (1024) is enough. */
  readonly openFiles: number | undefined
  /** What it was sized by: the link's bytes a second, the largest boot file, the bytes per node per boot (given or defaulted). */
  readonly basis: { readonly link: number; readonly largestFile: number; readonly bytesPerNode: number }
  /** Why tftp-max is what it is, when it is one dnsmasq's share of the link's transfers (pi3-dnsmasq.ts): the comment above it. */
  readonly share?: string
}

/** Transfers at once that a link carries with the largest file in half the firmware's 30 s each. */
export function linkSlots(load: BootLoad = {}): number {
  const link = load.linkBytesPerSecond ?? GIGABIT_BYTES
  const largest = load.largestFile ?? TYPICAL_KERNEL_BYTES
  return Math.max(1, Math.floor((link * FILE_TIMEOUT_S * FILE_SHARE) / largest))
}

export function fleetSizing(nodes: number, mode: 'range' | 'proxy', load: BootLoad = {}): FleetSizing {
  const wanted = 3 * nodes
  const transfers = bringUpSeconds(nodes, load) > STAGGERED_S ? Math.min(wanted, linkSlots(load)) : wanted
  return sizingWith(nodes, mode, wanted > DNSMASQ_DEFAULTS.tftpMax || transfers < wanted ? transfers : undefined, load)
}

/** One dnsmasq serving `nodes` with this tftp-max (undefined: dnsmasq's default), and what that needs of leases and open files. */
export function sizingWith(nodes: number, mode: 'range' | 'proxy', tftpMax: number | undefined, load: BootLoad = {}, share?: string): FleetSizing {
  const basis = { link: load.linkBytesPerSecond ?? GIGABIT_BYTES, largestFile: load.largestFile ?? TYPICAL_KERNEL_BYTES, bytesPerNode: load.bytesPerNode ?? TYPICAL_BOOT_BYTES }
  const leases = 2 * nodes
  const files = 2 * Math.max(tftpMax ?? DNSMASQ_DEFAULTS.tftpMax, DNSMASQ_DEFAULTS.tftpMax) + RESERVED_FILES
  return {
    nodes,
    tftpMax,
    linkSlots: linkSlots(load),
    dhcpLeaseMax: mode === 'range' && leases > DNSMASQ_DEFAULTS.dhcpLeaseMax ? leases : undefined,
    openFiles: files > DNSMASQ_DEFAULTS.openFiles ? files : undefined,
    basis,
    ...(share === undefined ? {} : { share }),
  }
}

/** The lines dnsmasq.conf gains for the fleet's size (none for a fleet dnsmasq's defaults serve). */
export function sizingLines(sizing: FleetSizing): string[] {
  if (sizing.tftpMax === undefined && sizing.dhcpLeaseMax === undefined && sizing.openFiles === undefined) return []
  const lines = [`# Sized for ${sizing.nodes} nodes powered on at once (pibake rehearse shows what the defaults do).`]
  if (sizing.tftpMax !== undefined) {
    lines.push(
      sizing.share !== undefined
        ? `# ${sizing.share} (the link carries ${sizing.linkSlots}: ${basisText(sizing.basis)}).`
        : sizing.tftpMax < 3 * sizing.nodes
        ? `# At most the transfers the boot server's link carries at once, each within the firmware's 30 s (${sizing.linkSlots}: ${basisText(sizing.basis)}); a Pi 4/5 left waiting starts its boot again and is served later.`
        : '# Up to 3 transfers per node: one in flight, and ones its firmware gave up on, open until they time out here.',
      `tftp-max=${sizing.tftpMax}`,
      ...(sizing.tftpMax < 3 * sizing.nodes
        ? ['# Requests beyond tftp-max dropped (the node asks again), not queued into transfers that hold a slot for 120 s.', 'tftp-single-port']
        : []),
    )
  }
  if (sizing.dhcpLeaseMax !== undefined) lines.push('# Two leases per node at most while a storm of requests settles.', `dhcp-lease-max=${sizing.dhcpLeaseMax}`)
  if (sizing.openFiles !== undefined) {
    lines.push(
      `# dnsmasq holds a socket and a file per TFTP transfer and caps tftp-max at its open-file limit less 50: give it ${sizing.openFiles}.`,
      '# With systemd, a drop-in /etc/systemd/system/dnsmasq.service.d/pibake-limits.conf holding:',
      '#   [Service]',
      `#   LimitNOFILE=${sizing.openFiles}`,
      `# then systemctl daemon-reload; by hand: prlimit --nofile=${sizing.openFiles}:${sizing.openFiles} -- dnsmasq --keep-in-foreground --conf-file=dnsmasq.conf`,
    )
  }
  return lines
}

function basisText({ link, largestFile, bytesPerNode }: FleetSizing['basis']): string {
  return `${Math.round((link * 1000) / GIGABIT_BYTES)} Mbit/s link, largest boot file ${(largestFile / 1e6).toFixed(1)} MB, ${(bytesPerNode / 1e6).toFixed(1)} MB per node per boot`
}

/** Seconds to bring a whole fleet powered on at once to the kernel hand-off: its bytes over the link (the boot loops fill the link). */
export function bringUpSeconds(nodes: number, load: BootLoad = {}): number {
  return (nodes * (load.bytesPerNode ?? TYPICAL_BOOT_BYTES)) / (load.linkBytesPerSecond ?? GIGABIT_BYTES)
}

/**
 * What dnsmasq cannot do for a fleet of this size however it is set, what one NFS server must
 * be told by hand, and how long the fleet takes to come up, for `pibake plan`: empty for a fleet
 * one boot server brings up at once. `pi3` replaces what is said of the Pi 3B/3B+ when their
 * transfers are capped (pi3-split.ts's pi3Clause: none in the fleet, their own dnsmasq, or power them on first).
 */
export function sizingLimits(nodes: number, load: BootLoad = {}, pi3?: string): string[] {
  const notes: string[] = []
  const sizing = fleetSizing(nodes, 'range', load)
  if (sizing.openFiles !== undefined) {
    notes.push(`dnsmasq needs ${sizing.openFiles} open files for ${nodes} nodes (a socket and a file per TFTP transfer); under the usual limit of 1024 it serves fewer transfers at once: dnsmasq.conf says how to raise it (LimitNOFILE=)`)
  }
  const ganesha = ganeshaSizing(nodes)
  if (ganesha.maxConnections !== undefined) {
    notes.push(`one NFS server for ${nodes} nodes: nfs-ganesha needs RPC_Max_Connections = ${ganesha.maxConnections} in ganesha.conf's NFS_CORE_PARAM (its default 1024 closes connections beyond about 1000), the kernel's nfsd threads=${nfsdThreads(nodes) ?? 8} in /etc/nfs.conf: the published ganesha.conf and exports say so`)
  }
  const link = load.linkBytesPerSecond ?? GIGABIT_BYTES
  const perNode = load.bytesPerNode ?? TYPICAL_BOOT_BYTES
  const seconds = bringUpSeconds(nodes, load)
  const bytes = `${nodes} × ${(perNode / 1e6).toFixed(0)} MB at ${(link / 1e6).toFixed(0)} MB/s${link === GIGABIT_BYTES ? ', a 1 GbE boot server' : ''}`
  if (sizing.tftpMax !== undefined && sizing.tftpMax < 3 * nodes) {
    // Capped: some nodes wait for a slot, and fail an attempt.
    notes.push(
      `${nodes} nodes powered on at once: about ${Math.ceil(seconds / 60)} min to bring them all to the kernel hand-off (${bytes}). tftp-max ${sizing.linkSlots} keeps every transfer within the firmware's 30 s; a Pi 4/5 left waiting starts its boot again and comes later${pi3 ?? `, but a Pi 3B/3B+ gets one attempt: power those on first, at most ${sizing.linkSlots} at once`}`,
    )
  } else if (nodes > DNSMASQ_DEFAULTS.tftpMax) {
    notes.push(`${nodes} nodes powered on at once: about ${Math.ceil(seconds / 10) * 10} s to bring them all to the kernel hand-off (${bytes}), every node served at once`)
  }
  return notes
}

/**
 * nfs-ganesha sized for the nodes one NFS server carries. Measured with ganesha 4.3 here: with its
 * default `RPC_Max_Connections` (1024) it keeps about 1020 TCP connections and closes the rest as
 * they come (1200 clients: 180 closed within 1.5 s); with 2064, none. A node holds one connection
 * for its NFS mounts (the kernel shares one per server) and, while it mounts, one more to the mount
 * protocol: 2 per node. `Nb_Worker` is no longer a setting of NFS_CORE_PARAM in ganesha 4 (its
 * request threads grow on demand), and ganesha raises its own open-file limit to the hard one.
 * `NFS_CORE_PARAM` may appear once: a second block (in an included file) replaces the first
 * whole (measured: the admin's `Enable_NLM = false` was lost), so the lines are said, not written.
 */
export interface GaneshaSizing {
  readonly nodes: number
  /** The RPC_Max_Connections ganesha.conf needs, undefined while the default (1024) is enough. */
  readonly maxConnections: number | undefined
}

const GANESHA_DEFAULT_CONNECTIONS = 1024

export function ganeshaSizing(nodes: number): GaneshaSizing {
  const needed = 2 * nodes + 64
  return { nodes, maxConnections: needed > GANESHA_DEFAULT_CONNECTIONS ? needed : undefined }
}

/** Comment lines for the published ganesha.conf: what its NFS_CORE_PARAM block must hold (none while the defaults serve). */
export function ganeshaSizingLines(sizing: GaneshaSizing): string[] {
  if (sizing.maxConnections === undefined) return []
  return [
    `# Sized for ${sizing.nodes} nodes on this server: ganesha's default of 1024 connections closes the`,
    '# connections of nodes beyond about 1000 as they mount. NFS_CORE_PARAM may appear only once (a second',
    "# block replaces the first whole), so add this line to the NFS_CORE_PARAM block of your ganesha.conf:",
    `#   RPC_Max_Connections = ${sizing.maxConnections};`,
  ]
}

/**
 * The kernel NFS server for the same nodes: it closes TCP connections beyond (threads + 3) × 20
 * unless told otherwise (Linux's svc_check_conn_limits: "too many open connections, consider
 * increasing the number of threads"); Debian starts 8 threads, which is 220 connections. Not
 * measured here (this machine's kernel has no nfsd): from the kernel's source.
 */
export function nfsdThreads(nodes: number): number | undefined {
  const threads = Math.ceil((2 * nodes + 64) / 20) - 3
  return threads > 8 ? threads : undefined
}

export function nfsdSizingLines(nodes: number): string[] {
  const threads = nfsdThreads(nodes)
  if (threads === undefined) return []
  return [
    `# Sized for ${nodes} nodes on this server: the kernel NFS server keeps (threads + 3) x 20 connections`,
    `# (220 with Debian's 8 threads) and closes the rest. In /etc/nfs.conf, then restart nfs-server:`,
    '#   [nfsd]',
    `#   threads=${threads}`,
  ]
}
