/** What a run may have left on the host: loop devices and mounts that belong to a test's folder. */
import { readFile } from 'node:fs/promises'
import { exec } from '../../src/system/exec.ts'

export async function leftovers(dir: string): Promise<string[]> {
  const { stdout } = await exec(['losetup', '--list', '--noheadings', '--output', 'NAME,BACK-FILE'])
  const loops = stdout.split('\n').filter((line) => line.includes(dir)).map((line) => `loop: ${line.trim()}`)
  const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').filter((line) => line.split(' ')[1]?.startsWith(dir)).map((line) => `mount: ${line}`)
  return [...loops, ...mounts]
}
