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
 * What dnsmasq cannot do for a fleet of this size however it is set, for `pibake plan`: empty for a
 * fleet one boot server brings up at once.
 */
export function sizingLimits(nodes: number, kernelBytes = TYPICAL_KERNEL_BYTES): string[] {
  const notes: string[] = []
  const sizing = fleetSizing(nodes, 'range')
  if (sizing.openFiles !== undefined) {
    notes.push(`dnsmasq needs ${sizing.openFiles} open files for ${nodes} nodes (one per TFTP transfer); under the usual limit of 1024 it serves at most 974 transfers at once: dnsmasq.conf says how to raise it (LimitNOFILE=)`)
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
