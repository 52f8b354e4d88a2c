/** What a run may have left on the host: loop devices and mounts that belong to a test's folder. */
import { readFile } from 'node:fs/promises'
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
 * What a run left on the host (see leftovers above), less loop devices that pibake detached
 * but that a mount namespace made meanwhile by some other program on this machine still holds
 * (the kernel marks those autoclear: they go when that namespace ends). Mounts are never excused.
 */
export async function leftBehind(dir: string): Promise<string[]> {
  for (let attempt = 0; attempt < 20 && (await leftovers(dir)).length; attempt++) await sleep(250)
  const left = await leftovers(dir)
  const held = async (line: string) => {
    const device = /^loop: \/dev\/(loop\d+)/.exec(line)?.[1]
    return device !== undefined && (await readFile(`/sys/block/${device}/loop/autoclear`, 'utf8').catch(() => '0')).trim() === '1'
  }
  const excused = await Promise.all(left.map(held))
  for (const line of left.filter((_, i) => excused[i])) console.log(`  note: ${line} is detached, held by another program's mount namespace`)
  return left.filter((_, i) => !excused[i])
}
