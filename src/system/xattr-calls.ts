/**
 * Extended attributes of one path, read in this process with libc's llistxattr and lgetxattr
 * (bound with koffi, configured once: koffi.ts): Node has no call of its own,
 * and a getfattr process for a whole tree had pibake export wait ~0.2 s before its first byte.
 * Symlinks are not followed; every namespace the caller may read is listed (user, trusted, security,
 * system.posix_acl_*), as `getfattr --match=-` dumps them.
 */
import { PibakeError } from '../errors.ts'
import { configuredKoffi } from './koffi.ts'

/** Linux's largest list of names and largest value (XATTR_LIST_MAX, XATTR_SIZE_MAX). */
const MAX = 65536
const ENODATA = 61
const ENOTSUP = 95

interface Calls {
  readonly list: (path: string, buffer: Buffer, size: number) => number
  readonly get: (path: string, name: string, buffer: Buffer, size: number) => number
  readonly errno: () => number
}

let bound: Calls | undefined
const names = Buffer.allocUnsafe(MAX)
const value = Buffer.allocUnsafe(MAX)

function calls(): Calls {
  if (bound) return bound
  try {
    const koffi = configuredKoffi()
    const libc = koffi.load('libc.so.6')
    bound = {
      list: libc.func('llistxattr', 'intptr_t', ['const char *', 'void *', 'size_t']) as Calls['list'],
      get: libc.func('lgetxattr', 'intptr_t', ['const char *', 'const char *', 'void *', 'size_t']) as Calls['get'],
      errno: () => koffi.errno(),
    }
  } catch (error) {
    throw new PibakeError(`cannot read extended attributes: koffi or libc did not load (${error instanceof Error ? error.message : String(error)})`, 'reinstall pibake\'s dependencies (npm ci), on a glibc Linux')
  }
  return bound
}

/** The xattrs of `path` (name to lowercase hex value), undefined when it has none. */
export function pathXattrs(path: string): Record<string, string> | undefined {
  const libc = calls()
  const listed = libc.list(path, names, MAX)
  if (listed < 0) {
    const errno = libc.errno()
    // A file system without xattrs has none to keep.
    if (errno === ENOTSUP) return undefined
    throw failure(path, 'llistxattr', errno)
  }
  if (listed === 0) return undefined
  const attrs: Record<string, string> = {}
  for (let start = 0; start < listed; ) {
    const end = names.indexOf(0, start)
    const name = names.toString('utf8', start, end < 0 ? listed : end)
    start = end < 0 ? listed : end + 1
    const size = libc.get(path, name, value, MAX)
    if (size < 0) throw failure(path, `lgetxattr ${name}`, libc.errno())
    attrs[name] = value.toString('hex', 0, size)
  }
  return attrs
}

function failure(path: string, call: string, errno: number): PibakeError {
  const hint = errno === ENODATA ? 'the tree changed while it was read: read a tree that nothing writes to' : 'read the tree as root'
  return new PibakeError(`${call} of ${path} failed (errno ${errno})`, hint)
}
