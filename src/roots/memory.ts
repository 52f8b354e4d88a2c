/**
 * A node's memory (`memory: '4GB'` in the recipe) and whether it can hold a root in RAM: the image,
 * copied into a tmpfs at boot, stays there for as long as the node runs, beside everything the
 * system itself needs.
 */
import { PibakeError } from '../errors.ts'
import { formatBytes } from '../pipeline/events.ts'

const MIB = 1024 * 1024

/**
 * What a node needs beside the image: the kernel, the firmware's share (a Pi's GPU takes 64–76 MB),
 * the running system and the writes of the tmpfs upper layer. A working margin, not a measurement of
 * any one workload: a node that runs more needs more.
 */
export const RAM_MARGIN_BYTES = 512 * MIB

/** `512MB`, `4GB`, `1.5 GB` (binary units, as a Pi's memory is sold) → bytes; undefined when it is not that. */
export function parseMemory(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(MB|GB|MiB|GiB)\s*$/i.exec(text)
  if (!match) return undefined
  const bytes = Number(match[1]) * (match[2]!.toLowerCase().startsWith('g') ? 1024 : 1) * MIB
  return bytes >= 64 * MIB && bytes <= 1024 * 1024 * MIB ? Math.round(bytes) : undefined
}

/** The nodes whose stated memory cannot hold the image plus the margin (nodes that state none are not judged). */
export function tooSmallForRam(nodes: readonly { readonly hostname: string; readonly memory?: number | undefined }[], imageBytes: number): { hostname: string; memory: number }[] {
  return nodes.flatMap((node) => (node.memory !== undefined && node.memory < imageBytes + RAM_MARGIN_BYTES ? [{ hostname: node.hostname, memory: node.memory }] : []))
}

/** Refuses, with the numbers, a root in RAM that a node's memory cannot hold. */
export function requireRamFits(nodes: readonly { readonly hostname: string; readonly memory?: number | undefined }[], imageBytes: number, which: string): void {
  const small = tooSmallForRam(nodes, imageBytes)
  if (!small.length) return
  const need = imageBytes + RAM_MARGIN_BYTES
  const list = small.map((node) => `${node.hostname} (${formatBytes(node.memory)})`).join(', ')
  throw new PibakeError(
    `netboot.root is 'ram': ${list} cannot hold the root in memory: the image (${which}) is ${formatBytes(imageBytes)}, plus ${formatBytes(RAM_MARGIN_BYTES)} to run, needs ${formatBytes(need)}`,
    "give those nodes a recipe with netboot.root 'squashfs' (the image stays on the NFS server), or make the image smaller",
  )
}
