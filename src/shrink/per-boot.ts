/**
 * The bytes one node pulls over TFTP at each boot: the files its model's firmware asks for, in its
 * order (the storm simulator's requests, src/rehearse/firmware.ts and config-txt.ts: `config.txt`
 * read twice by a Pi 3 or 4, the files it includes, the device tree, overlays, the command line, the
 * first kernel there is, its initramfs), counted from a boot tree as it would be served. A file the
 * firmware asks for and does not find costs nothing.
 */
import { lstat, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { NetbootModel } from '../recipe/types.ts'
import { initramfsFor, readConfigTxt, requestsAfterConfig } from '../rehearse/config-txt.ts'
import { FIRMWARE, FIRST_REQUESTS } from '../rehearse/firmware.ts'

/** A boot tree as the firmware sees it: each file's size and text, undefined when it has none. */
export interface BootTree {
  size(name: string): Promise<number | undefined>
  text(name: string): Promise<string | undefined>
}

export interface BootBytes {
  readonly bytes: number
  /** Each file fetched, in order (a file fetched twice is listed twice). */
  readonly files: readonly { readonly name: string; readonly bytes: number }[]
}

/** What a node of `model` pulls from `tree`; `config` are the node's own config.txt lines (`nodes[].config`). */
export async function bytesPerBoot(tree: BootTree, model: NetbootModel, config: readonly string[] = []): Promise<BootBytes> {
  const files: { name: string; bytes: number }[] = []
  const fetch = async (name: string): Promise<boolean> => {
    const bytes = await tree.size(name)
    if (bytes !== undefined) files.push({ name, bytes })
    return bytes !== undefined
  }
  for (const request of FIRST_REQUESTS[FIRMWARE[model].family]) await fetch(request.name)
  const text = `${(await tree.text('config.txt')) ?? ''}${config.length ? `\n[all]\n${config.join('\n')}\n` : ''}`
  const included = new Map<string, string>()
  let read = readConfigTxt(text, model, included)
  while (read.includes.length) {
    for (const name of read.includes) {
      await fetch(name)
      included.set(name, (await tree.text(name)) ?? '')
    }
    read = readConfigTxt(text, model, included)
  }
  for (const request of requestsAfterConfig(read)) await fetch(request.name)
  let kernel: string | undefined
  for (const name of read.kernels) {
    if (await fetch(`${read.osPrefix}${name}`)) {
      kernel = name
      break
    }
  }
  const initramfs = read.initramfs === 'from-kernel' ? (kernel && initramfsFor(kernel)) : read.initramfs?.name
  if (initramfs) await fetch(`${read.osPrefix}${initramfs}`)
  return { bytes: files.reduce((sum, f) => sum + f.bytes, 0), files }
}

/** A folder as a boot tree (a build's boot files, a node's TFTP folder): links followed, as TFTP serves them. */
/**
 * What a fleet's nodes pull from `tree` at each boot: the largest file any of them fetches, and the
 * bytes per node averaged over them; undefined when they pull nothing (no boot files there).
 */
export async function fleetBootLoad(tree: BootTree, nodes: readonly { readonly model: NetbootModel; readonly config?: readonly string[] }[]): Promise<{ largestFile: number; bytesPerNode: number } | undefined> {
  const seen = new Map<string, BootBytes>()
  let largestFile = 0
  let total = 0
  for (const node of nodes) {
    const key = `${node.model}\n${(node.config ?? []).join('\n')}`
    let boot = seen.get(key)
    if (!boot) seen.set(key, (boot = await bytesPerBoot(tree, node.model, node.config)))
    total += boot.bytes
    for (const file of boot.files) largestFile = Math.max(largestFile, file.bytes)
  }
  if (!nodes.length || !largestFile) return undefined
  return { largestFile, bytesPerNode: Math.ceil(total / nodes.length) }
}

export function folderTree(dir: string): BootTree {
  return {
    size: async (name) => {
      const info = await stat(join(dir, name)).catch(() => undefined)
      return info?.isFile() ? info.size : undefined
    },
    text: (name) => readFile(join(dir, name), 'latin1').catch(() => undefined),
  }
}

/**
 * The boot tree of a stack of overlayfs upper folders (`dirs`, top first), read without mounting
 * it: the first folder that has a name decides, and a whiteout there (a character device 0/0, on the
 * name or on a folder above it) hides it. Opaque folders are not read: boot trees have no folder
 * replaced whole.
 */
export function layeredTree(dirs: readonly string[]): BootTree {
  const find = async (name: string): Promise<string | undefined> => {
    const parts = name.split('/')
    for (const dir of dirs) {
      for (let depth = 1; depth <= parts.length; depth++) {
        const path = join(dir, ...parts.slice(0, depth))
        const info = await lstat(path).catch(() => undefined)
        if (!info) break
        if (info.isCharacterDevice() && info.rdev === 0) return undefined
        if (depth === parts.length) return info.isFile() ? path : undefined
      }
    }
    return undefined
  }
  return {
    size: async (name) => {
      const path = await find(name)
      return path === undefined ? undefined : (await stat(path)).size
    },
    text: async (name) => {
      const path = await find(name)
      return path === undefined ? undefined : readFile(path, 'latin1')
    },
  }
}
