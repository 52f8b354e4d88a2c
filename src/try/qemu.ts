/**
 * A Raspberry Pi stand-in for `pibake try` and the boot tests: `qemu-system-aarch64 -M virt` booting a published kernel,
 * initramfs and command line, inside a namespace of a private LAN. Its network is either QEMU's user network
 * (slirp: the guest is 10.0.2.15, reaches the namespace's loopback as 10.0.2.2, and its sshd is
 * forwarded to a port on that loopback), or a tap device in the namespace (see tap.ts: the guest
 * is a host on a test LAN, with the address the LAN's DHCP server gives it). The serial console
 * goes to a file. Stopped by PID (the child is QEMU itself: `ip netns exec` replaces its process).
 */
import { existsSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { CommandError } from '../errors.ts'
import { exec, type ExecResult } from '../system/exec.ts'
import { signal, type Owned } from '../system/process.ts'

/** The emulated board per architecture: a Pi 4's Cortex-A72 on arm64, a Cortex-A15 on armhf. */
export const BOARDS = {
  arm64: { qemu: 'qemu-system-aarch64', machine: 'virt', cpu: 'cortex-a72' },
  // A 32-bit kernel without LPAE cannot reach the board's PCI window above 4 GiB: keep it low.
  armhf: { qemu: 'qemu-system-arm', machine: 'virt,highmem=off', cpu: 'cortex-a15' },
} as const

export type GuestArch = keyof typeof BOARDS

export interface GuestOptions {
  readonly netns: string
  /** The build's architecture (default arm64). */
  readonly arch?: GuestArch
  readonly kernel: string
  readonly initrd: string
  /** The kernel command line. */
  readonly append: string
  /** The guest's Ethernet MAC address (the node's). */
  readonly mac: string
  /** User network: port on the namespace's loopback forwarded to the guest's port 22. */
  readonly sshPort?: number
  /**
   * Tap network instead: a tap device already in `netns` (plugged into a bridge there), and where
   * the guest's sshd is reached from: its address and the namespace of a host on the same LAN.
   */
  readonly tap?: { readonly ifname: string; readonly address: string; readonly sshNetns: string }
  /** File that receives the serial console. */
  readonly serialLog: string
  /**
   * Also a Unix socket for the serial console (`pibake try --console` attaches to it), QEMU logging
   * what the guest writes to `serialLog` all the same.
   */
  readonly serialSocket?: string
  readonly cpus?: number
  readonly memoryMiB?: number
}

export interface Guest extends Owned {
  readonly options: GuestOptions
  /** `performance.now()` when QEMU was started. */
  readonly startedAt: number
  /** The serial console so far. */
  serial(): string
  /** Set once QEMU has exited (with its exit code, or the signal that ended it). */
  exit(): string | undefined
}

export function qemuArgs(options: GuestOptions): string[] {
  const board = BOARDS[options.arch ?? 'arm64']
  return [
    '-M', board.machine, '-cpu', board.cpu, '-smp', String(options.cpus ?? 2), '-m', String(options.memoryMiB ?? 1024),
    '-nographic', '-monitor', 'none', ...serial(options), '-no-reboot',
    '-kernel', options.kernel, '-initrd', options.initrd, '-append', options.append,
    '-netdev', netdev(options),
    '-device', `virtio-net-pci,netdev=n0,mac=${options.mac},romfile=`,
  ]
}

function serial(options: GuestOptions): string[] {
  if (!options.serialSocket) return ['-serial', `file:${options.serialLog}`]
  return ['-chardev', `socket,id=s0,path=${options.serialSocket},server=on,wait=off,logfile=${options.serialLog}`, '-serial', 'chardev:s0']
}

function netdev(options: GuestOptions): string {
  if (options.tap) return `tap,id=n0,ifname=${options.tap.ifname},script=no,downscript=no`
  if (options.sshPort === undefined) throw new Error('a guest needs a tap device or an SSH port on the user network')
  return `user,id=n0,hostfwd=tcp:127.0.0.1:${options.sshPort}-:22`
}

/** Where the guest's sshd answers: namespace, address and port. */
export function sshTarget(guest: Pick<Guest, 'options'>): { netns: string; host: string; port: number } {
  const { tap, netns, sshPort } = guest.options
  return tap ? { netns: tap.sshNetns, host: tap.address, port: 22 } : { netns, host: '127.0.0.1', port: sshPort ?? 22 }
}

export function startGuest(options: GuestOptions): Guest {
  const startedAt = performance.now()
  const child = execa('ip', ['netns', 'exec', options.netns, BOARDS[options.arch ?? 'arm64'].qemu, ...qemuArgs(options)], {
    reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', cleanup: true,
  })
  let exit: string | undefined
  const done = child.then((result) => {
    exit = `${result.exitCode ?? result.signal}${result.stderr ? `: ${String(result.stderr).trim()}` : ''}`
  })
  const pid = child.pid
  if (pid === undefined) throw new Error(`${BOARDS[options.arch ?? 'arm64'].qemu} did not start`)
  return {
    options,
    pid,
    startedAt,
    serial: () => (existsSync(options.serialLog) ? readFileSync(options.serialLog, 'latin1') : ''),
    exit: () => exit,
    async stop() {
      if (exit !== undefined) return
      signal(pid, 'SIGTERM')
      const slow = await Promise.race([done.then(() => false), sleep(5000, true, { ref: false })])
      if (slow) {
        signal(pid, 'SIGKILL')
        await done
      }
    },
  }
}

/** Runs a command on the guest as root over SSH (the forwarded port, or the guest's LAN address), bounded in time. */
export function guestSsh(guest: Guest, key: string, command: string, options: { timeoutS?: number; okCodes?: readonly number[] } = {}): Promise<ExecResult> {
  const { netns, host, port } = sshTarget(guest)
  return exec(
    [
      'ip', 'netns', 'exec', netns, 'timeout', String(options.timeoutS ?? 60),
      'ssh', '-i', key, '-p', String(port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR', `root@${host}`, command,
    ],
    { okCodes: options.okCodes },
  )
}

/** Console lines after which the guest will never come up on its own. */
const STUCK = /You are in emergency mode|Kernel panic|Give root password for maintenance|ALERT! .* does not exist/

/**
 * Waits until the guest's sshd lets root in, polling every 2 s; fails when QEMU exits, the console
 * shows the boot is stuck, or the time is up, with the end of the serial console.
 */
export async function waitForSsh(guest: Guest, key: string, timeoutMs: number): Promise<void> {
  const deadline = guest.startedAt + timeoutMs
  for (;;) {
    const exit = guest.exit()
    if (exit !== undefined) throw new Error(`QEMU exited before sshd answered (${exit})\n${consoleTail(guest)}`)
    const stuck = STUCK.exec(guest.serial())
    if (stuck) throw new Error(`the boot is stuck ("${stuck[0]}" on the console)\n${consoleTail(guest)}`)
    try {
      await guestSsh(guest, key, 'true', { timeoutS: 20 })
      return
    } catch (error) {
      if (!(error instanceof CommandError)) throw error
    }
    if (performance.now() > deadline) throw new Error(`sshd did not answer within ${timeoutMs / 1000} s of QEMU starting\n${consoleTail(guest)}`)
    await sleep(2000)
  }
}

/** The last lines of the guest's console, for failure messages. */
export function consoleTail(guest: Guest, lines = 40): string {
  return `--- serial console (${guest.options.serialLog}), last ${lines} lines ---\n${guest.serial().trimEnd().split('\n').slice(-lines).join('\n')}`
}
