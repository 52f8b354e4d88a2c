/** Loop devices, always attached together with their detach. */
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { exec } from './exec.ts'
import { PibakeError } from '../errors.ts'
import { resolvePath } from './paths.ts'
import type { Cleanup } from './cleanup.ts'

export interface LoopOptions {
  readonly offset?: number
  readonly sizelimit?: number
  readonly readOnly?: boolean
  readonly signal?: AbortSignal | undefined
}

/** Attaches `file` (or a byte range of it) to a free loop device and returns `/dev/loopN`. */
export async function attachLoop(cleanup: Cleanup, file: string, options: LoopOptions = {}): Promise<string> {
  const argv = ['losetup', '--find', '--show']
  if (options.readOnly) argv.push('--read-only')
  if (options.offset !== undefined) argv.push('--offset', String(options.offset))
  if (options.sizelimit !== undefined) argv.push('--sizelimit', String(options.sizelimit))
  argv.push(file)
  // Not cancelled midway: a device made by a losetup killed before it printed its name would leak.
  // A cancelled run stops right after, with the detach registered.
  const { stdout } = await exec(argv, {
    hint: 'loop devices need root and a kernel with loop support (modprobe loop); `losetup -a` lists those in use',
  })
  const device = stdout.trim()
  cleanup.defer(`detach ${device}`, () => detachLoop(device, file), { kind: 'loop', device, file })
  options.signal?.throwIfAborted()
  return device
}

/**
 * Detaches `device`, attached to `file`, and waits until it is really gone: while another opener
 * (udev's probe of a new device, say) still holds it, the kernel only marks it for removal. Only
 * while it is still `file`'s: once the kernel has freed it, another program (a build beside this
 * one) may be given the same device at once, and a detach by number would take it from under that
 * program's mount ("can't read superblock").
 */
export async function detachLoop(device: string, file: string, attempts = 40): Promise<void> {
  const own = resolvePath(file)
  for (let attempt = 1; ; attempt++) {
    const backing = await backingFile(device)
    if (backing === undefined || (backing !== own && backing !== `${own} (deleted)`)) return
    if (attempt > attempts) throw new PibakeError(`${device} is still attached after losetup --detach: something still uses it`, `\`losetup -a\`, \`fuser -v ${device}\` name it`)
    await exec(['losetup', '--detach', device], { okCodes: [1] })
    await sleep(Math.min(50 * attempt, 500))
  }
}

/**
 * Whether the kernel has marked `device` to be freed once its last user lets go (a detach asked
 * while a mount, perhaps in another program's mount namespace, still used it).
 */
export async function markedForRemoval(device: string): Promise<boolean> {
  return (await readFile(`/sys/block/${basename(device)}/loop/autoclear`, 'utf8').catch(() => '0')).trim() === '1'
}

/** The backing file of an attached loop device, as the kernel lists it in sysfs; undefined when none is attached. */
async function backingFile(device: string): Promise<string | undefined> {
  return readFile(`/sys/block/${basename(device)}/loop/backing_file`, 'utf8').then((text) => text.replace(/\n$/, ''), () => undefined)
}

/** Every attached loop device and its backing file (as the kernel names it: resolved, maybe ` (deleted)`). */
export async function listLoops(): Promise<{ readonly device: string; readonly file: string }[]> {
  const { stdout } = await exec(['losetup', '--list', '--noheadings', '--raw', '--output', 'NAME,BACK-FILE'])
  return stdout.split('\n').flatMap((line) => {
    const match = /^(\S+) (.+)$/.exec(line.trim())
    return match ? [{ device: match[1]!, file: match[2]!.replace(/\\x20/g, ' ') }] : []
  })
}

/** Loop devices attached to `file`, as `losetup --list` reports them. */
export async function loopsOf(file: string): Promise<string[]> {
  const { stdout } = await exec(['losetup', '--list', '--noheadings', '--output', 'NAME', '--associated', file])
  return stdout.split('\n').map((line) => line.trim()).filter(Boolean)
}
