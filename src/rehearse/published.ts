/**
 * What each simulated node must receive: the published TFTP tree read where it lies (a local
 * folder), every file under a node's root read once (files shared by a build's nodes are read
 * once per real file, and held in memory: a build's boot files are some 50 MB), so that a storm
 * compares every byte it got with the published file's.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { macDir } from '../netboot/layout.ts'
import type { SimulatedPi } from './dhcp-client.ts'

/** The published bytes of `path` for this node: null when it has no such file, undefined when that cannot be told. */
export type Expected = (pi: SimulatedPi, path: string) => Buffer | null | undefined

/**
 * Every file a node can be served, from `tftpRoot` laid out as dnsmasq's
 * `tftp-unique-root=mac` serves it (the node's MAC folder, else the root itself).
 */
export function expectedFromTree(tftpRoot: string, nodes: readonly SimulatedPi[]): Expected {
  const byReal = new Map<string, Buffer>()
  const trees = new Map<string, Map<string, Buffer>>()
  const byMac = new Map<string, Map<string, Buffer>>()
  for (const pi of nodes) {
    const dir = join(tftpRoot, macDir(pi.mac))
    const root = existsSync(dir) ? realpathSync(dir) : realpathSync(tftpRoot)
    if (!trees.has(root)) trees.set(root, readTree(root, byReal))
    byMac.set(pi.mac, trees.get(root)!)
  }
  return (pi, path) => {
    if (path.split('/').some((part) => part === '..' || part === '')) return undefined
    return byMac.get(pi.mac)?.get(path) ?? null
  }
}

function readTree(root: string, byReal: Map<string, Buffer>): Map<string, Buffer> {
  const files = new Map<string, Buffer>()
  const walk = (dir: string, prefix: string, depth: number): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      const stat = statSync(path, { throwIfNoEntry: false })
      if (!stat) continue
      if (stat.isDirectory()) {
        if (depth < 3) walk(path, `${prefix}${name}/`, depth + 1)
        continue
      }
      const real = realpathSync(path)
      let bytes = byReal.get(real)
      if (!bytes) {
        bytes = readFileSync(real)
        byReal.set(real, bytes)
      }
      files.set(`${prefix}${name}`, bytes)
    }
  }
  walk(root, '', 0)
  return files
}
