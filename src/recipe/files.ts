/**
 * The recipe fields that name files on this machine: each resolved against the recipe's folder
 * and checked to be what the field says it is.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, join, resolve } from 'node:path'

/** A field's value, or why it is wrong and what to do about it. */
export type Checked<T> = { readonly value: T } | { readonly problem: string; readonly hint?: string }

/** `~/x` in the home folder, anything else relative to `dir` (the recipe's folder). */
export function resolvePath(dir: string, text: string): string {
  return text === '~' || text.startsWith('~/') ? join(homedir(), text.slice(1)) : resolve(dir, text)
}

function relativeHint(dir: string): string {
  return `paths in a recipe are relative to the recipe's folder, ${dir}`
}

export function imageFile(dir: string): (text: string) => Checked<string> {
  return (text) => {
    const path = resolvePath(dir, text)
    const hint = `${relativeHint(dir)}\nRaspberry Pi OS images are at https://www.raspberrypi.com/software/operating-systems/`
    if (!existsSync(path)) return { problem: `${path} does not exist`, hint }
    if (!statSync(path).isFile()) return { problem: `${path} is not a file`, hint }
    if (!/\.(img|img\.xz|tar|tar\.xz|tar\.zst)$/.test(path)) return { problem: `${path} is not a disk image (.img, .img.xz) nor a root tarball (.tar, .tar.xz, .tar.zst)` }
    return { value: path }
  }
}

/** `image.boot`: a tarball of the boot partition's files. */
export function bootTarballFile(dir: string): (text: string) => Checked<string> {
  return (text) => {
    const path = resolvePath(dir, text)
    if (!existsSync(path)) return { problem: `${path} does not exist`, hint: relativeHint(dir) }
    if (!statSync(path).isFile()) return { problem: `${path} is not a file` }
    if (!/\.(tar|tar\.xz|tar\.zst)$/.test(path)) return { problem: `${path} is not a tarball (.tar, .tar.xz, .tar.zst)` }
    return { value: path }
  }
}

/** A checksum file's entries, `<hash>  <file name>` (the name may be empty when a line holds a bare hash). */
export interface ChecksumEntry {
  readonly hash: string
  readonly name: string
}

export type Sha256Source = { readonly hash: string } | { readonly file: string; readonly entries: readonly ChecksumEntry[] }

const SHA256 = /^[0-9a-f]{64}$/i
const SHA256_HINT = 'image.sha256 is the image\'s SHA-256 (64 hex digits) or the path of a sha256sum-style checksum file'

export function sha256Source(dir: string): (text: string) => Checked<Sha256Source> {
  return (text) => {
    if (SHA256.test(text)) return { value: { hash: text.toLowerCase() } }
    if (/^[0-9a-f]+$/i.test(text)) return { problem: `"${text}" is not a SHA-256: it has ${text.length} hex digits, not 64`, hint: SHA256_HINT }
    const file = resolvePath(dir, text)
    if (!existsSync(file)) return { problem: `${file} does not exist (and "${text}" is not 64 hex digits either)`, hint: SHA256_HINT }
    if (!statSync(file).isFile() || statSync(file).size > 1 << 20) return { problem: `${file} is not a checksum file`, hint: SHA256_HINT }
    const entries = parseChecksums(readFileSync(file, 'utf8'))
    if (!entries.length) return { problem: `${file} holds no SHA-256 (expected lines like "<64 hex digits>  <image file name>")`, hint: SHA256_HINT }
    return { value: { file, entries } }
  }
}

export function parseChecksums(text: string): ChecksumEntry[] {
  return text.split('\n').flatMap((line) => {
    const match = /^\\?([0-9a-f]{64})(?:\s+\*?(.*?))?\s*$/i.exec(line)
    return match?.[1] ? [{ hash: match[1].toLowerCase(), name: match[2] ?? '' }] : []
  })
}

/** The hash for `image` out of the checksum source: the only entry, or the one naming the image. */
export function checksumFor(source: Sha256Source, image: string): Checked<string> {
  if ('hash' in source) return { value: source.hash }
  const only = source.entries.length === 1 ? source.entries[0] : undefined
  const named = only ?? source.entries.find((entry) => basename(entry.name) === basename(image))
  if (named) return { value: named.hash }
  return { problem: `${source.file} lists no SHA-256 for ${basename(image)}`, hint: SHA256_HINT }
}

export function overlayFolder(dir: string): (text: string) => Checked<string> {
  return (text) => {
    const path = resolvePath(dir, text)
    if (!existsSync(path)) return { problem: `${path} does not exist`, hint: relativeHint(dir) }
    if (!statSync(path).isDirectory()) return { problem: `${path} is not a folder` }
    const holds = (sub: string) => statSync(join(path, sub), { throwIfNoEntry: false })?.isDirectory() === true
    if (holds('rootfs') || holds('bootfs')) return { value: path }
    return {
      problem: `${path} holds neither rootfs/ nor bootfs/`,
      hint: 'an overlay folder holds rootfs/ (copied onto /) and/or bootfs/ (copied onto the boot partition)',
    }
  }
}

export function existingFile(dir: string): (text: string) => Checked<string> {
  return (text) => {
    const path = resolvePath(dir, text)
    if (!existsSync(path)) return { problem: `${path} does not exist`, hint: relativeHint(dir) }
    return { value: path }
  }
}
