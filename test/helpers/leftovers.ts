/** What a run may have left on the host: loop devices and mounts that belong to a test's folder. */
import { readdir, readFile, readlink } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { exec } from '../../src/system/exec.ts'
import { resolvePath } from '../../src/system/paths.ts'

/** `folder` is resolved first: losetup and the mount table name files by their real paths. */
export async function leftovers(folder: string): Promise<string[]> {
  const dir = resolvePath(folder)
  const { stdout } = await exec(['losetup', '--list', '--noheadings', '--output', 'NAME,BACK-FILE'])
  const loops = stdout.split('\n').filter((line) => line.includes(dir)).map((line) => `loop: ${line.trim()}`)
  const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').filter((line) => line.split(' ')[1]?.startsWith(dir)).map((line) => `mount: ${line}`)
  return [...loops, ...mounts]
}

/**
 * What a run left on the host (see leftovers above). Every loop device backed by a file of `dir` is
 * the run's, with one exception: one pibake detached (the kernel marks it autoclear) that only mount
 * namespaces proven to be another program's still hold. Such a namespace holds the device only as a
 * copy of this run's own mount (mounted there at the same place under `dir`: it was made, by
 * `unshare` or `ip netns exec`, while the run's mount was up), and none of its processes is this
 * process, a child of it, or names `dir` in its root, folder or command line. A device held by any
 * other namespace, by none, or not detached at all is left behind; so is every mount.
 */
export async function leftBehind(folder: string): Promise<string[]> {
  for (let attempt = 0; attempt < 20 && (await leftovers(folder)).length; attempt++) await sleep(250)
  const left = await leftovers(folder)
  const notes = await Promise.all(left.map(async (line) => {
    const device = /^loop: (\/dev\/loop\d+)/.exec(line)?.[1]
    return device === undefined ? undefined : heldByAnotherProgram(device, folder)
  }))
  for (const [i, note] of notes.entries()) if (note) console.log(`  note: ${left[i]} is detached, ${note}`)
  return left.filter((_, i) => !notes[i])
}

/** A process as the holder checks see it. */
interface Proc {
  readonly pid: number
  readonly ppid: number
  readonly namespace: string
  readonly root: string
  readonly cwd: string
  readonly command: string
}

/**
 * Why `device` (detached, autoclear) is not this run's, if that is proven (see leftBehind);
 * undefined when it may be.
 */
export async function heldByAnotherProgram(device: string, folder: string): Promise<string | undefined> {
  const name = device.replace('/dev/', '')
  if ((await readFile(`/sys/block/${name}/loop/autoclear`, 'utf8').catch(() => '0')).trim() !== '1') return undefined
  const number = (await readFile(`/sys/block/${name}/dev`, 'utf8')).trim()
  const dir = resolvePath(folder)
  const procs = await processes()
  const namespaces = new Map<string, Proc[]>()
  for (const p of procs) namespaces.set(p.namespace, [...(namespaces.get(p.namespace) ?? []), p])
  const holding: { group: Proc[]; at: string[] }[] = []
  for (const group of namespaces.values()) {
    const at = await mountPoints(group, number)
    if (at.length) holding.push({ group, at })
  }
  const parents = new Map(procs.map((p) => [p.pid, p.ppid]))
  const ours = (p: Proc) => descends(p.pid, parents) || [p.root, p.cwd, p.command].some((text) => text.includes(dir) || text.includes(folder))
  const copy = (at: string[]) => at.every((point) => point.startsWith(`${dir}/`))
  if (!holding.length || holding.some(({ group, at }) => group.some(ours) || !copy(at))) return undefined
  return `held by another program's copy of the mount: ${holding.map(({ group, at }) => `pid ${group[0]!.pid} (${group[0]!.command.slice(0, 80)}) at ${at.join(', ')}`).join('; ')}`
}

/** Whether `pid` is this process or one started by it (its parent chain reaches this process). */
function descends(pid: number, parents: ReadonlyMap<number, number>): boolean {
  for (let at: number | undefined = pid, hops = 0; at !== undefined && at > 1 && hops < 1000; at = parents.get(at), hops++) {
    if (at === process.pid) return true
  }
  return false
}

/** Where the mount namespace of `group` (its processes) mounts block device `number` ("7:3"). */
async function mountPoints(group: readonly Proc[], number: string): Promise<string[]> {
  // A chrooted process's own mountinfo lists only the mounts under its root: entered, the namespace
  // shows them all. Entered through the first of its processes still running.
  for (const { pid } of group) {
    const table = await exec(['nsenter', `--mount=/proc/${pid}/ns/mnt`, 'cat', '/proc/self/mountinfo']).then((r) => r.stdout, () => undefined)
    if (table === undefined) continue
    return table.split('\n').map((line) => line.split(' ')).filter((fields) => fields[2] === number).map((fields) => unescape(fields[4]!))
  }
  return []
}

/** A mountinfo path with its octal escapes (`\040` for a space) undone. */
function unescape(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
}

/** Every process still running, with its mount namespace, root, folder and command line. */
async function processes(): Promise<Proc[]> {
  const pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry)).map(Number)
  const procs = await Promise.all(pids.map(async (pid): Promise<Proc | undefined> => {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const [namespace, root, cwd, command] = await Promise.all([
        readlink(`/proc/${pid}/ns/mnt`),
        readlink(`/proc/${pid}/root`),
        readlink(`/proc/${pid}/cwd`),
        readFile(`/proc/${pid}/cmdline`, 'utf8').then((text) => text.split('\0').join(' ').trim()),
      ])
      return { pid, ppid, namespace, root, cwd, command }
    } catch {
      return undefined // gone meanwhile, or a kernel thread without a namespace: holds nothing
    }
  }))
  return procs.filter((p) => p !== undefined)
}
