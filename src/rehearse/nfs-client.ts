/**
 * A userspace NFS client for the storm's root phase: Debian's libnfs (`libnfs13`), bound with koffi.
 *
 * Why libnfs rather than the kernel's NFS client: this host's kernel may have none (the project's
 * machines have no nfs module); a kernel mount needs root and one mount per simulated node (a
 * thousand mounts, each to be undone); and the kernel's page cache would serve every node after the
 * first from memory, hiding the very load the storm is there to put on the server. libnfs speaks
 * NFSv3 (what a Pi's initramfs mounts with: klibc nfsmount, `vers=3`), each context over its own TCP
 * connection, as each Pi's kernel has its own, and caches nothing between contexts.
 *
 * libnfs's calls used here are its synchronous ones (one RPC round trip or a few each); each goes
 * through koffi's `.async`, which runs it on libuv's thread pool, so nodes read concurrently, as
 * many at once as that pool has threads: the storm's worker sets UV_THREADPOOL_SIZE to its node
 * count (inside.ts; libuv's maximum is 1024).
 *
 * Source ports: run as root, libnfs binds each connection to a reserved port (512–1023, skipping
 * every one /etc/services names: a getservbyport() each) and, once all are taken, tries every one
 * of them again before it lets the kernel choose. A Pi's kernel binds one such port on its own
 * address; the simulator's nodes share one address, so past about 480 connections every mount
 * paid 512 binds and 512 reads of /etc/services (measured, 900 mounts from one process: 53.7 s and
 * 27.8 CPU seconds, 400: 0.8 s). nfs-ganesha does not ask for reserved ports (pibake's exports
 * leave its PrivilegedPort at the default, false), the kernel NFS server does (its exports are
 * `secure` by default): with RootPhaseOptions.reservedPorts false the storm's worker gives up
 * CAP_NET_BIND_SERVICE before its first NFS call (withoutReservedPorts()), and libnfs stops at the
 * first refused bind and connects from an ordinary port (900 mounts: 2.4 s, 2.8 CPU seconds).
 */
import { configuredKoffi } from '../system/koffi.ts'
import { promisify } from 'node:util'
import { PibakeError } from '../errors.ts'

type Handle = object
type AsyncFn = (...args: unknown[]) => Promise<unknown>

interface Libnfs {
  init(): Handle | null
  destroy(nfs: Handle): void
  error(nfs: Handle): string
  setTimeout(nfs: Handle, ms: number): void
  setVersion(nfs: Handle, version: number): number
  mount: AsyncFn
  open: AsyncFn
  pread: AsyncFn
  close: AsyncFn
}

/** Each read asks for this much (the kernel's readahead window is 128 KiB by default). */
const CHUNK = 128 * 1024
const O_RDONLY = 0

let bound: Libnfs | undefined

/** libnfs, loaded on first use: a host without it gets the package's name. */
function libnfs(): Libnfs {
  if (bound) return bound
  let koffi: typeof import('koffi')
  let lib: ReturnType<typeof import('koffi').load>
  try {
    koffi = configuredKoffi()
    lib = koffi.load('libnfs.so.13')
  } catch (error) {
    throw new PibakeError(`the root phase needs libnfs (${error instanceof Error ? error.message : String(error)})`, 'install Debian\'s libnfs13 (apt-get install libnfs13), or run scripts/setup.sh')
  }
  const context = koffi.pointer('nfs_context', koffi.opaque())
  const fh = koffi.pointer('nfsfh', koffi.opaque())
  const async = (fn: { async: (...args: unknown[]) => void }) => promisify(fn.async) as AsyncFn
  bound = {
    init: lib.func('nfs_init_context', context, []) as () => Handle | null,
    destroy: lib.func('nfs_destroy_context', 'void', [context]) as (nfs: Handle) => void,
    error: lib.func('nfs_get_error', 'const char *', [context]) as (nfs: Handle) => string,
    setTimeout: lib.func('nfs_set_timeout', 'void', [context, 'int']) as (nfs: Handle, ms: number) => void,
    setVersion: lib.func('nfs_set_version', 'int', [context, 'int']) as (nfs: Handle, version: number) => number,
    mount: async(lib.func('nfs_mount', 'int', [context, 'const char *', 'const char *'])),
    open: async(lib.func('nfs_open', 'int', [context, 'const char *', 'int', koffi.out(koffi.pointer(fh))])),
    pread: async(lib.func('nfs_pread', 'int', [context, fh, 'uint64_t', 'uint64_t', 'void *'])),
    close: async(lib.func('nfs_close', 'int', [context, fh])),
  }
  return bound
}

/** CAP_NET_BIND_SERVICE's bit in a capability set (linux/capability.h). */
const CAP_NET_BIND_SERVICE = 10
/** _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set. */
const CAPABILITY_VERSION_3 = 0x20080522

/**
 * Takes CAP_NET_BIND_SERVICE out of the calling thread's effective capabilities, so that libnfs's
 * connections leave from ordinary ports (see the top of this file). Capabilities are a thread's
 * own, and a thread starts with its creator's: call it on the main thread after binding any
 * privileged port the process needs (the DHCP client's 68) and before libuv's thread pool starts
 * (its first fs, dns or koffi .async call), so that the pool's threads, where libnfs runs, start
 * without it. Programs the process starts get every capability again (execve of a root process).
 * Returns whether the capability was there to drop.
 */
export function withoutReservedPorts(): boolean {
  const libc = configuredKoffi().load('libc.so.6')
  const capget = libc.func('capget', 'int', ['void *', 'void *']) as (header: Buffer, data: Buffer) => number
  const capset = libc.func('capset', 'int', ['void *', 'void *']) as (header: Buffer, data: Buffer) => number
  const header = Buffer.alloc(8)
  header.writeUInt32LE(CAPABILITY_VERSION_3, 0)
  // Two { effective, permitted, inheritable } words: capabilities 0–31, then 32–63.
  const data = Buffer.alloc(24)
  if (capget(header, data) !== 0) throw new PibakeError('capget failed: the storm cannot tell which capabilities its worker has')
  const effective = data.readUInt32LE(0)
  if (!(effective & (1 << CAP_NET_BIND_SERVICE))) return false
  data.writeUInt32LE((effective & ~(1 << CAP_NET_BIND_SERVICE)) >>> 0, 0)
  if (capset(header, data) !== 0) throw new PibakeError('capset failed: the storm\'s worker could not give up CAP_NET_BIND_SERVICE')
  return true
}

/** libnfs binds from 512 up to IPPORT_RESERVED (1024) (lib/socket.c's `firstPort`). */
const LIBNFS_FIRST_PORT = 512
const IPPORT_RESERVED = 1024

/**
 * How many reserved ports libnfs may bind here: 512–1023 less every one this host's services
 * database names for tcp, which libnfs skips (it asks getservbyport(), as this does; Debian's
 * /etc/services names 34 of them: 478 left). The storm's NFS connections all leave from one
 * address (the top of this file), each node holding one at a time (a mount's portmapper, mount and
 * NFS connections come one after the other, each closed with a reset, so none lingers in
 * TIME_WAIT): a root phase of more nodes than this finds them all taken.
 */
export function libnfsReservedPorts(): number {
  const libc = configuredKoffi().load('libc.so.6')
  const getservbyport = libc.func('getservbyport', 'void *', ['int', 'const char *']) as (port: number, proto: string) => unknown
  let free = 0
  for (let port = LIBNFS_FIRST_PORT; port < IPPORT_RESERVED; port++) {
    // The port in network byte order, as getservbyport() takes it.
    if (getservbyport(((port & 0xff) << 8) | (port >> 8), 'tcp') === null) free++
  }
  return free
}

/** Whether libnfs can be loaded here (pibake doctor asks). */
export function libnfsAvailable(): boolean {
  try {
    libnfs()
    return true
  } catch {
    return false
  }
}

/**
 * Where reads of `size` bytes land: the bytes are counted, never looked at, so every mount of the
 * process shares one buffer per size (a thousand nodes' 4 MiB image reads held 4 GB apart). Kept
 * for the process's life: a buffer a call in flight writes to is never dropped.
 */
const discards = new Map<number, Buffer>()
function discard(size: number): Buffer {
  let buffer = discards.get(size)
  if (!buffer) discards.set(size, (buffer = Buffer.alloc(size)))
  return buffer
}

/** Why a call failed, in libnfs's words, with the path it was about. */
export class NfsError extends Error {
  readonly path: string
  constructor(path: string, message: string) {
    super(message)
    this.path = path
  }
}

export interface ReadOptions {
  /** Read at most this many bytes (default: to the end). */
  readonly limit?: number
  /** Bytes a call (default 128 KiB, the kernel's read-ahead). */
  readonly chunk?: number
  readonly signal?: AbortSignal | undefined
  readonly onRead?: (bytes: number) => void
}

/** One NFSv3 mount of `server:path`, as a node's initramfs makes it. Close it when done. */
export class NfsMount {
  readonly #lib: Libnfs
  readonly #nfs: Handle
  #closed = false

  private constructor(lib: Libnfs, nfs: Handle) {
    this.#lib = lib
    this.#nfs = nfs
  }

  /** Mounts `path` (an export, or a folder inside one) of `server`; every RPC gives up after `timeoutMs`. */
  static async mount(server: string, path: string, timeoutMs: number): Promise<NfsMount> {
    const lib = libnfs()
    const nfs = lib.init()
    if (!nfs) throw new NfsError(path, 'libnfs could not make a context')
    const mount = new NfsMount(lib, nfs)
    try {
      lib.setTimeout(nfs, timeoutMs)
      lib.setVersion(nfs, 3)
      const status = (await lib.mount(nfs, server, path)) as number
      if (status !== 0) throw new NfsError(path, `mount ${server}:${path}: ${lib.error(nfs)}`)
      return mount
    } catch (error) {
      mount.close()
      throw error
    }
  }

  /**
   * Reads `path` (relative to the mount) from its start to its end, or `limit` bytes, `chunk` bytes a
   * call (libnfs splits a call into READs of the server's rsize); returns the bytes read. Between
   * calls it stops when `signal` is aborted; `onRead` hears of every call's bytes as they come
   * (those of a read stopped halfway count too).
   */
  async readFile(path: string, options: ReadOptions = {}): Promise<number> {
    const { limit = Infinity, chunk = CHUNK, signal, onRead } = options
    const handle: unknown[] = [null]
    const opened = (await this.#lib.open(this.#nfs, `/${path}`, O_RDONLY, handle)) as number
    if (opened !== 0) throw new NfsError(path, `open: ${this.#lib.error(this.#nfs)}`)
    const buffer = discard(chunk)
    let total = 0
    try {
      while (total < limit) {
        if (signal?.aborted) throw new NfsError(path, `stopped at ${total} bytes: the storm's time was up`)
        const got = (await this.#lib.pread(this.#nfs, handle[0], total, Math.min(chunk, limit - total), buffer)) as number
        if (got < 0) throw new NfsError(path, `read at ${total}: ${this.#lib.error(this.#nfs)}`)
        if (got === 0) break
        total += got
        onRead?.(got)
      }
    } finally {
      await this.#lib.close(this.#nfs, handle[0])
    }
    return total
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#lib.destroy(this.#nfs)
  }
}
