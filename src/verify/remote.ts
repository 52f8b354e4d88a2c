/**
 * A snapshot of a tree on a host that has no pibake, read with the host's own tools: one `find`
 * listing (NUL-separated fields, so no name can forge a record), `sha256sum` over every regular
 * file, `getfattr` for extended attributes and `stat` for device numbers. What comes back is
 * hostile: every field is parsed strictly, and anything not as those programs print it is refused.
 */
import { shellQuote, PibakeError } from '../errors.ts'
import type { Host } from '../publish/host.ts'
import { parseGetfattr } from '../snapshot/xattrs.ts'
import { comparePaths, type Entry, type EntryType, type Snapshot } from '../snapshot/types.ts'
import { markHardLinks } from '../snapshot/take.ts'

/** What the xattr script prints, alone, when the host has no getfattr (whose output starts with "# file:" or is empty). */
const NO_GETFATTR = 'pibake: no getfattr'
/** Paths per `stat` command: well under a command line's limit. */
const BATCH = 200

/** `find` prints, per path, these fields, each ended by a NUL. */
const FIELDS = '%y\\0%m\\0%U\\0%G\\0%s\\0%n\\0%D:%i\\0%T@\\0%p\\0%l\\0'
const PER_ENTRY = 10
const LIST = `cd -- "$1" && find . -xdev -printf '${FIELDS}'`
const HASH = 'cd -- "$1" && find . -xdev -type f -print0 | xargs -0r sha256sum -z --'
const XATTRS = `command -v getfattr >/dev/null || { echo '${NO_GETFATTR}'; exit 0; }; getfattr --recursive --physical --no-dereference --dump --match=- --encoding=hex --absolute-names -- "$1"`
const DEVICES = 'cd -- "$1" && shift && stat --printf "%t:%T\\0" -- "$@"'

const TYPES: Readonly<Record<string, EntryType>> = { f: 'file', d: 'dir', l: 'symlink', c: 'char', b: 'block', p: 'fifo', s: 'socket' }

/** Reads the tree at `dir` (absolute, resolved) on `host` as a snapshot; the same fields `takeSnapshot` records. */
export async function snapshotOnHost(host: Host, dir: string, signal?: AbortSignal): Promise<Snapshot> {
  const run = async (script: string, args: readonly string[] = []) => (await host.shell(shellQuote(['sh', '-c', script, 'sh', dir, ...args]), { signal })).stdout
  const found = parseListing(await run(LIST), `${host.name}:${dir}`)
  const entries = new Map(found.map((f) => [f.entry.path, f.entry]))
  for (const [path, sha256] of parseHashes(await run(HASH), `${host.name}:${dir}`)) {
    const entry = entries.get(path)
    if (entry?.type !== 'file') throw hostile(`${host.name}:${dir}`, `sha256sum named ${JSON.stringify(path)}, which find did not list as a file`)
    if (entry.sha256 !== undefined) throw hostile(`${host.name}:${dir}`, `sha256sum named ${JSON.stringify(path)} twice`)
    entry.sha256 = sha256
  }
  const unhashed = found.find((f) => f.entry.type === 'file' && f.entry.sha256 === undefined)
  if (unhashed) throw hostile(`${host.name}:${dir}`, `sha256sum gave no hash for ${JSON.stringify(unhashed.entry.path)}`, 'the tree changed while it was read: run pibake verify again')
  await addDevices(run, found.filter((f) => f.entry.type === 'char' || f.entry.type === 'block').map((f) => f.entry), `${host.name}:${dir}`)
  await addXattrs(host, dir, entries, signal)
  markHardLinks(found)
  const list = found.map((f) => f.entry).sort((a, b) => comparePaths(a.path, b.path))
  return { format: 'pibake-snapshot', version: 1, source: `${host.name}:${dir}`, taken: new Date().toISOString(), entries: list }
}

interface Listed {
  readonly entry: Entry
  readonly inode?: string
}

/** find's records: ten NUL-ended fields each, every one checked. */
export function parseListing(output: string, where: string): Listed[] {
  const fields = output.split('\0')
  if (fields.pop() !== '' || fields.length % PER_ENTRY !== 0) throw hostile(where, 'the listing does not end where a record ends')
  const listed: Listed[] = []
  const seen = new Set<string>()
  for (let at = 0; at < fields.length; at += PER_ENTRY) {
    const [kind, mode, uid, gid, size, links, inode, mtime, path, target] = fields.slice(at, at + PER_ENTRY) as [string, string, string, string, string, string, string, string, string, string]
    const type = TYPES[kind]
    const name = relativePath(path, where)
    if (!type) throw hostile(where, `${JSON.stringify(name)} has the type ${JSON.stringify(kind)}`)
    if (seen.has(name)) throw hostile(where, `${JSON.stringify(name)} is listed twice`)
    seen.add(name)
    const entry: Entry = { path: name, type, mode: octal(mode, name, where), uid: whole(uid, 'uid', name, where), gid: whole(gid, 'gid', name, where), mtime: seconds(mtime, name, where) }
    if (type === 'file') entry.size = whole(size, 'size', name, where)
    if (type === 'symlink') {
      if (target === '') throw hostile(where, `the symlink ${JSON.stringify(name)} has no target`)
      entry.target = target
    } else if (target !== '') throw hostile(where, `${JSON.stringify(name)} is not a symlink but has a target`)
    if (!/^\d+:\d+$/.test(inode)) throw hostile(where, `${JSON.stringify(name)} has the inode ${JSON.stringify(inode)}`)
    const hardLinked = type !== 'dir' && whole(links, 'link count', name, where) > 1
    listed.push(hardLinked ? { entry, inode } : { entry })
  }
  if (!seen.has('/')) throw hostile(where, 'the listing lacks the tree itself (".")')
  return listed
}

/** sha256sum -z's lines: `<64 hex> ./path` (two spaces, or a space and "*"), NUL-ended. */
export function parseHashes(output: string, where: string): [string, string][] {
  const lines = output.split('\0')
  if (lines.pop() !== '') throw hostile(where, 'the hashes do not end where a line ends')
  return lines.map((line) => {
    const match = /^([0-9a-f]{64}) [ *](\.\/[^\0]*)$/s.exec(line)
    if (!match) throw hostile(where, `sha256sum printed ${JSON.stringify(line.slice(0, 100))}`)
    return [relativePath(match[2]!, where), match[1]!]
  })
}

/** `./etc/motd` → `/etc/motd`, `.` → `/`; nothing else (no `..`, no empty or `.` parts). */
function relativePath(path: string, where: string): string {
  if (path === '.') return '/'
  const parts = path.split('/')
  if (parts[0] !== '.' || parts.length < 2 || parts.slice(1).some((p) => p === '' || p === '.' || p === '..')) throw hostile(where, `the path ${JSON.stringify(path.slice(0, 100))} is not one find prints`)
  return `/${parts.slice(1).join('/')}`
}

async function addDevices(run: (script: string, args: readonly string[]) => Promise<string>, devices: Entry[], where: string): Promise<void> {
  for (let start = 0; start < devices.length; start += BATCH) {
    const batch = devices.slice(start, start + BATCH)
    const numbers = (await run(DEVICES, batch.map((e) => `.${e.path}`))).split('\0')
    if (numbers.pop() !== '' || numbers.length !== batch.length) throw hostile(where, 'stat did not give one device number per device')
    batch.forEach((entry, i) => {
      const match = /^([0-9a-f]{1,8}):([0-9a-f]{1,8})$/.exec(numbers[i]!)
      if (!match) throw hostile(where, `stat gave the device number ${JSON.stringify(numbers[i])} for ${JSON.stringify(entry.path)}`)
      entry.rdev = { major: parseInt(match[1]!, 16), minor: parseInt(match[2]!, 16) }
    })
  }
}

async function addXattrs(host: Host, dir: string, entries: Map<string, Entry>, signal?: AbortSignal): Promise<void> {
  const where = `${host.name}:${dir}`
  const output = (await host.shell(shellQuote(['sh', '-c', XATTRS, 'sh', dir]), { signal })).stdout
  if (output === NO_GETFATTR) {
    throw new PibakeError(`cannot read the extended attributes of ${where}: ${host.name} has no getfattr`, 'install it there (apt-get install attr): verify compares every xattr, capabilities and ACLs included')
  }
  for (const [path, attrs] of parseGetfattr(output, dir)) {
    const entry = entries.get(path)
    if (!entry) throw hostile(where, `getfattr named ${JSON.stringify(path.slice(0, 100))}, which find did not list`)
    for (const [name, value] of Object.entries(attrs)) {
      if (name === '' || !/^(?:[0-9a-f]{2})*$/.test(value)) throw hostile(where, `getfattr gave ${JSON.stringify(path)} the attribute ${JSON.stringify(name)}=${JSON.stringify(value.slice(0, 40))}`)
    }
    entry.xattrs = Object.fromEntries(Object.entries(attrs).sort(([a], [b]) => comparePaths(a, b)))
  }
}

function octal(text: string, path: string, where: string): number {
  if (!/^[0-7]{1,4}$/.test(text)) throw hostile(where, `${JSON.stringify(path)} has the mode ${JSON.stringify(text)}`)
  return parseInt(text, 8)
}

function whole(text: string, what: string, path: string, where: string): number {
  if (!/^\d{1,15}$/.test(text)) throw hostile(where, `${JSON.stringify(path)} has the ${what} ${JSON.stringify(text)}`)
  return Number(text)
}

/** find's `%T@`, `1700000000.1234567890`, as whole seconds rounded down (also before 1970). */
function seconds(text: string, path: string, where: string): number {
  const match = /^(-?)(\d{1,15})(?:\.(\d+))?$/.exec(text)
  if (!match) throw hostile(where, `${JSON.stringify(path)} has the modification time ${JSON.stringify(text)}`)
  const whole = Number(match[2])
  const fraction = /[1-9]/.test(match[3] ?? '')
  return match[1] ? -whole - (fraction ? 1 : 0) : whole
}

function hostile(where: string, why: string, hint?: string): PibakeError {
  return new PibakeError(`the tree ${where} cannot be read as find, sha256sum, stat and getfattr print it: ${why}`, hint ?? 'the host\'s tools answered unlike GNU findutils, coreutils and attr: check what runs there (a compromised host may lie)')
}
