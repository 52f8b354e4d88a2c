/**
 * What the apt benches share: the demo image's root mounted read-only, fresh overlay layers over
 * it (each install starts from the image as it ships), and the CPU time of the programs a run
 * started. Every mount is registered with the caller's Cleanup.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Cleanup } from '../src/system/cleanup.ts'
import { exec, type ExecResult } from '../src/system/exec.ts'
import { attachLoop } from '../src/system/losetup.ts'
import { mount, mountOverlay } from '../src/system/mount.ts'
import { bootAndRoot, readPartitionTable } from '../src/system/partitions.ts'

/**
 * The chroot as people set it up by hand (/proc, /sys, /dev, the host's resolv.conf), in a mount
 * namespace of its own so that nothing leaks; then `argv`, a `chroot <root> …` or a host program,
 * with apt's non-interactive environment.
 */
const ENTER = `root=$1; binds=$2; shift 2
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
cat /etc/resolv.conf > "$root/etc/resolv.conf"
printf '%s' "$binds" | while IFS=' ' read -r source target; do mount --bind "$source" "$root$target"; mount -o remount,bind,ro "$root$target"; done
exec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"`

/** `binds`: host files or folders mounted read-only over paths of the root (which must exist) for this command. */
export function inChroot(root: string, argv: readonly string[], binds: readonly (readonly [string, string])[] = []): Promise<ExecResult> {
  const list = binds.map(([source, target]) => `${source} ${target}\n`).join('')
  return exec(['unshare', '--mount', '--propagation', 'private', 'sh', '-euc', ENTER, 'enter', root, list, ...argv])
}

/**
 * Ctrl-C or SIGTERM undoes what `cleanup` holds (the bench's mounts, loop devices and work folder
 * are in no build's journal, so `pibake clean` would not find them), then exits 130. The programs
 * a run started get the terminal's Ctrl-C too; one still holding a mount makes its unmount fail,
 * and that is printed.
 */
export function undoOnSignal(cleanup: Cleanup): void {
  let stopping = false
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    console.error(`\n${signal}: undoing the bench's mounts and loop devices…`)
    for (const error of await cleanup.run()) console.error(error.message)
    process.exit(130)
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

/** The image's root partition, read-only at `<work>/base`. */
export async function mountBase(cleanup: Cleanup, img: string, work: string): Promise<string> {
  const { root } = bootAndRoot(await readPartitionTable(img), img)
  const device = await attachLoop(cleanup, img, { offset: root.offset, sizelimit: root.size, readOnly: true })
  const target = join(work, 'base')
  await mount(cleanup, device, target, { type: 'ext4', options: ['ro', 'noload'] })
  return target
}

/** A new writable overlay layer over `base`, at `<work>/layers/<name>/root`. */
export async function freshLayer(cleanup: Cleanup, base: string, work: string, name: string): Promise<string> {
  const dir = join(work, 'layers', name)
  await mkdir(join(dir, 'upper'), { recursive: true })
  await mkdir(join(dir, 'work'), { recursive: true })
  const root = join(dir, 'root')
  await mountOverlay(cleanup, root, { lower: [base], upper: join(dir, 'upper'), work: join(dir, 'work') })
  return root
}

/** Wall-clock and CPU seconds (user + system of this process's finished children) of `work`. */
export async function timed<T>(work: () => Promise<T>): Promise<{ wall: number; cpu: number; result: T }> {
  const cpuBefore = await childCpu()
  const started = process.hrtime.bigint()
  const result = await work()
  const wall = Number(process.hrtime.bigint() - started) / 1e9
  return { wall, cpu: (await childCpu()) - cpuBefore, result }
}

/** cutime + cstime of /proc/self/stat: every waited-for descendant's CPU time, in seconds. */
async function childCpu(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 16 and 17 of proc(5), counted from the state (field 3) at index 0.
  return (Number(fields[13]) + Number(fields[14])) / 100
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export function round1(value: number): number {
  return Math.round(value * 10) / 10
}
