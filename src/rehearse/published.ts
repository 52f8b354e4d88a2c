/**
 * What each simulated node must receive: the published TFTP tree read where it lies (a local
 * folder), every file under a node's root hashed once (files shared by a build's nodes are hashed
 * once per real file), so that a storm compares every byte it got with the published file.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { macDir } from '../netboot/layout.ts'
import type { SimulatedPi } from './dhcp-client.ts'

export type Expected = (pi: SimulatedPi, path: string) => string | null | undefined

/**
 * The sha256 of every file a node can be served, from `tftpRoot` laid out as dnsmasq's
 * `tftp-unique-root=mac` serves it (the node's MAC folder, else the root itself).
 */
export function expectedFromTree(tftpRoot: string, nodes: readonly SimulatedPi[]): Expected {
  const byReal = new Map<string, string>()
  const trees = new Map<string, Map<string, string>>()
  for (const pi of nodes) {
    const dir = join(tftpRoot, macDir(pi.mac))
    const root = existsSync(dir) ? realpathSync(dir) : realpathSync(tftpRoot)
    if (!trees.has(root)) trees.set(root, hashTree(root, byReal))
  }
  return (pi, path) => {
    if (path.split('/').some((part) => part === '..' || part === '')) return undefined
    const dir = join(tftpRoot, macDir(pi.mac))
    const root = existsSync(dir) ? realpathSync(dir) : realpathSync(tftpRoot)
    return trees.get(root)?.get(path) ?? null
  }
}

function hashTree(root: string, byReal: Map<string, string>): Map<string, string> {
  const files = new Map<string, string>()
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
      let sha = byReal.get(real)
      if (!sha) {
        sha = createHash('sha256').update(readFileSync(real)).digest('hex')
        byReal.set(real, sha)
      }
      files.set(`${prefix}${name}`, sha)
    }
  }
  walk(root, '', 0)
  return files
}
