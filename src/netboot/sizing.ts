/**
 * dnsmasq sized for a fleet powered on at once. What a storm rehearsal (src/rehearse/) found with
 * dnsmasq's own limits, fixed here from the fleet's size:
 * - `tftp-max` (default 50): beyond it dnsmasq stops reading TFTP requests; a node whose request
 *   waits past its firmware's 30 s file timeout fails with nothing received. A node has one file
 *   in flight at a time, but a transfer its firmware gave up on stays open on the server until
 *   dnsmasq's own timeout while a Pi 3/4 asks again: 3 per node.
 * - open files: dnsmasq holds one socket per transfer and caps `tftp-max` at its open-file limit
 *   less 50 ("restricting maximum simultaneous TFTP transfers to 974" under the usual soft limit
 *   of 1024); it never raises the limit itself, so the unit (LimitNOFILE=) or the shell must.
 * - `dhcp-lease-max` (default 1000): every node holds a lease (range mode), and a storm of
 *   re-requests may hold a second one for a while: 2 per node.
 * What no setting fixes: TFTP is lock-step and dnsmasq one process; every node must get each file
 * (the kernel: ~32 MiB for the demo) within its firmware's 30 s.
 */
export const DNSMASQ_DEFAULTS = { tftpMax: 50, dhcpLeaseMax: 1000, openFiles: 1024 } as const

/** Descriptors dnsmasq keeps apart from its TFTP transfers (its own count: 50). */
const RESERVED_FILES = 50
/** The largest file a node fetches, when nothing better is known: the demo's kernel8.img. */
export const TYPICAL_KERNEL_BYTES = 33 * 1024 * 1024
/** The firmware's TFTP_FILE_TIMEOUT. */
const FILE_TIMEOUT_S = 30
/** What one boot server's 1 GbE link carries in a second (about 940 Mbit/s of UDP payload). */
const GIGABIT_BYTES = 117_000_000

export interface FleetSizing {
  readonly nodes: number
  /** The tftp-max to write, undefined while dnsmasq's default is enough. */
  readonly tftpMax: number | undefined
  /** The dhcp-lease-max to write (range mode), undefined while the default is enough. */
  readonly dhcpLeaseMax: number | undefined
  /** The open-file limit dnsmasq needs, undefined while the usual soft limit (1024) is enough. */
  readonly openFiles: number | undefined
}

export function fleetSizing(nodes: number, mode: 'range' | 'proxy'): FleetSizing {
  const transfers = 3 * nodes
  const leases = 2 * nodes
  const files = Math.max(transfers, DNSMASQ_DEFAULTS.tftpMax) + RESERVED_FILES
  return {
    nodes,
    tftpMax: transfers > DNSMASQ_DEFAULTS.tftpMax ? transfers : undefined,
    dhcpLeaseMax: mode === 'range' && leases > DNSMASQ_DEFAULTS.dhcpLeaseMax ? leases : undefined,
    openFiles: files > DNSMASQ_DEFAULTS.openFiles ? files : undefined,
  }
}

/** The lines dnsmasq.conf gains for the fleet's size (none for a fleet dnsmasq's defaults serve). */
export function sizingLines(sizing: FleetSizing): string[] {
  if (sizing.tftpMax === undefined && sizing.dhcpLeaseMax === undefined && sizing.openFiles === undefined) return []
  const lines = [`# Sized for ${sizing.nodes} nodes powered on at once (pibake rehearse shows what the defaults do).`]
  if (sizing.tftpMax !== undefined) lines.push('# Up to 3 transfers per node: one in flight, and ones its firmware gave up on, open until they time out here.', `tftp-max=${sizing.tftpMax}`)
  if (sizing.dhcpLeaseMax !== undefined) lines.push('# Two leases per node at most while a storm of requests settles.', `dhcp-lease-max=${sizing.dhcpLeaseMax}`)
  if (sizing.openFiles !== undefined) {
    lines.push(
      `# dnsmasq holds one file per TFTP transfer and caps tftp-max at its open-file limit less 50: give it ${sizing.openFiles}.`,
      '# With systemd, a drop-in /etc/systemd/system/dnsmasq.service.d/pibake-limits.conf holding:',
      '#   [Service]',
      `#   LimitNOFILE=${sizing.openFiles}`,
      `# then systemctl daemon-reload; by hand: prlimit --nofile=${sizing.openFiles}:${sizing.openFiles} -- dnsmasq --keep-in-foreground --conf-file=dnsmasq.conf`,
    )
  }
  return lines
}

/**
 * What dnsmasq cannot do for a fleet of this size however it is set, and what one NFS server must
 * be told by hand, for `pibake plan`: empty for a fleet one boot server brings up at once.
 */
export function sizingLimits(nodes: number, kernelBytes = TYPICAL_KERNEL_BYTES): string[] {
  const notes: string[] = []
  const sizing = fleetSizing(nodes, 'range')
  if (sizing.openFiles !== undefined) {
    notes.push(`dnsmasq needs ${sizing.openFiles} open files for ${nodes} nodes (one per TFTP transfer); under the usual limit of 1024 it serves at most 974 transfers at once: dnsmasq.conf says how to raise it (LimitNOFILE=)`)
  }
  const ganesha = ganeshaSizing(nodes)
  if (ganesha.maxConnections !== undefined) {
    notes.push(`one NFS server for ${nodes} nodes: nfs-ganesha needs RPC_Max_Connections = ${ganesha.maxConnections} in ganesha.conf's NFS_CORE_PARAM (its default 1024 closes connections beyond about 1000), the kernel's nfsd threads=${nfsdThreads(nodes) ?? 8} in /etc/nfs.conf: the published ganesha.conf and exports say so`)
  }
  const needed = (nodes * kernelBytes) / FILE_TIMEOUT_S
  if (needed > GIGABIT_BYTES) {
    const group = Math.max(1, Math.floor((GIGABIT_BYTES * FILE_TIMEOUT_S) / kernelBytes))
    notes.push(
      `${nodes} nodes powered on at once each need a ${(kernelBytes / 1024 / 1024).toFixed(0)} MiB kernel within their firmware's 30 s: ${(needed / 1e6).toFixed(0)} MB/s, more than a 1 GbE boot server sends (about ${(GIGABIT_BYTES / 1e6).toFixed(0)} MB/s); dnsmasq cannot pace them: power them on in groups of at most ${group}, or give the boot server a faster link`,
    )
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
