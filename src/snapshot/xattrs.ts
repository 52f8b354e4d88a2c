/**
 * Extended attributes of a whole tree, read by ONE `getfattr` process (Node has no xattr API,
 * and a process per file would be far too slow on a root filesystem).
 */
import { join } from 'node:path'
import { exec } from '../system/exec.ts'

/** Snapshot path (`/etc/ping`) to its xattrs, name to lowercase hex value. */
export type XattrMap = Map<string, Record<string, string>>

/**
 * Every xattr of every path under `dir` (which must be absolute and resolved), including
 * `security.*`, `trusted.*` and POSIX ACLs (`system.posix_acl_*`); symlinks are not followed.
 */
export async function readTreeXattrs(dir: string, signal?: AbortSignal): Promise<XattrMap> {
  const argv = ['getfattr', '--recursive', '--physical', '--no-dereference', '--dump', '--match=-', '--encoding=hex', '--absolute-names', dir]
  const { stdout } = await exec(argv, {
    signal,
    hint: 'getfattr comes with the attr package (apt-get install attr); it fails when a file vanishes or cannot be read while the tree is walked',
  })
  return parseGetfattr(stdout, dir)
}

/**
 * The xattrs of `paths` (relative to `dir`, `''` for `dir` itself), keyed by those relative paths;
 * paths without any are left out. One getfattr per few hundred paths.
 */
export async function readPathXattrs(dir: string, paths: readonly string[], signal?: AbortSignal): Promise<Map<string, Record<string, string>>> {
  const result = new Map<string, Record<string, string>>()
  for (let start = 0; start < paths.length; start += 500) {
    const batch = paths.slice(start, start + 500).map((path) => (path ? join(dir, path) : dir))
    const argv = ['getfattr', '--physical', '--no-dereference', '--dump', '--match=-', '--encoding=hex', '--absolute-names', '--', ...batch]
    const { stdout } = await exec(argv, { signal, hint: 'getfattr comes with the attr package (apt-get install attr)' })
    for (const [path, attrs] of parseGetfattr(stdout, dir)) result.set(path === '/' ? '' : path.slice(1), attrs)
  }
  return result
}

/**
 * Parses `getfattr --dump --encoding=hex --absolute-names` output: blocks of `# file: <path>`
 * followed by `name=0x<hex>` lines. getfattr escapes backslash, newline, carriage return (and `=`
 * in names) as `\ooo` octal, which is undone here.
 */
export function parseGetfattr(output: string, dir: string): XattrMap {
  const result: XattrMap = new Map()
  let current: Record<string, string> | undefined
  for (const line of output.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = {}
      result.set(toSnapshotPath(unescapeOctal(line.slice('# file: '.length)), dir), current)
    } else if (line !== '' && current) {
      const [name, value] = splitAttribute(line)
      current[name] = value
    }
  }
  for (const [path, attrs] of result) if (Object.keys(attrs).length === 0) result.delete(path)
  return result
}

function splitAttribute(line: string): [string, string] {
  const equals = line.indexOf('=')
  if (equals < 0) return [unescapeOctal(line), '']
  const value = line.slice(equals + 1).replace(/^0x/i, '').toLowerCase()
  return [unescapeOctal(line.slice(0, equals)), value]
}

/** Undoes getfattr's `\ooo` escapes; the escaped bytes may be parts of a UTF-8 character. */
export function unescapeOctal(text: string): string {
  if (!text.includes('\\')) return text
  const bytes: Buffer[] = []
  let plainFrom = 0
  for (const match of text.matchAll(/\\([0-7]{3})/g)) {
    bytes.push(Buffer.from(text.slice(plainFrom, match.index), 'utf8'), Buffer.of(parseInt(match[1] ?? '0', 8)))
    plainFrom = match.index + match[0].length
  }
  bytes.push(Buffer.from(text.slice(plainFrom), 'utf8'))
  return Buffer.concat(bytes).toString('utf8')
}

function toSnapshotPath(absolute: string, dir: string): string {
  if (absolute === dir) return '/'
  return dir === '/' ? absolute : absolute.slice(dir.length)
}
