/**
 * A TFTP client (RFC 1350, with the `blksize` and `tsize` options of RFC 2348/2349) that reads a file
 * as a Pi's firmware does: one request, every block acknowledged in turn (lock-step, no window), the
 * last packet sent again when nothing comes for `retransmitMs`, and the whole file given up after
 * `fileTimeoutMs` (`TFTP_FILE_TIMEOUT`). The bytes are compared as they come with the published
 * file's, block by block (a memcmp: a storm of a thousand nodes checks every byte it gets for the
 * cost of reading it, where hashing 40 GB took a core a minute), and never kept unless asked.
 */
import { createSocket, type RemoteInfo } from 'node:dgram'

export type TftpResult =
  /** `matches`: the bytes are the published file's (undefined when there was none to compare with). */
  | { readonly status: 'ok'; readonly bytes: number; readonly matches: boolean | undefined; readonly ms: number; readonly data?: Buffer }
  | { readonly status: 'not-found'; readonly ms: number }
  | { readonly status: 'timeout'; readonly bytes: number; readonly ms: number }
  | { readonly status: 'error'; readonly bytes: number; readonly ms: number; readonly message: string }

export interface TftpRequest {
  readonly server: string
  readonly file: string
  /** The address the node has (its own, from DHCP): the request comes from it. */
  readonly localAddress: string
  readonly blksize: number | undefined
  readonly fileTimeoutMs: number
  readonly retransmitMs: number
  /** The published file: every block received is compared with its bytes at the same offset. */
  readonly expected?: Buffer | undefined
  /** Keep the bytes (config.txt, cmdline.txt: small files the caller reads). */
  readonly keep?: boolean
  readonly signal?: AbortSignal | undefined
}

const RRQ = 1
const DATA = 3
const ACK = 4
const ERROR = 5
const OACK = 6

export function tftpGet(request: TftpRequest): Promise<TftpResult> {
  const started = performance.now()
  const ms = () => Math.round(performance.now() - started)
  const published = request.expected
  let matches = published !== undefined
  const kept: Buffer[] = []
  const socket = createSocket('udp4')
  let blksize = 512
  let expected = 1
  let bytes = 0
  let peer: RemoteInfo | undefined
  let last = rrq(request.file, request.blksize)
  let retransmit: NodeJS.Timeout | undefined
  return new Promise<TftpResult>((resolve) => {
    let done = false
    const finish = (result: TftpResult): void => {
      if (done) return
      done = true
      clearInterval(retransmit)
      clearTimeout(deadline)
      request.signal?.removeEventListener('abort', onAbort)
      socket.close()
      resolve(result)
    }
    // One timer per transfer, not one per packet: it sends the last packet again when nothing
    // has come for `retransmitMs`.
    let lastHeard = performance.now()
    const send = (packet: Buffer, port: number): void => {
      last = packet
      lastHeard = performance.now()
      socket.send(packet, port, peer?.address ?? request.server)
    }
    retransmit = setInterval(() => {
      if (performance.now() - lastHeard < request.retransmitMs) return
      lastHeard = performance.now()
      socket.send(last, peer?.port ?? 69, peer?.address ?? request.server)
    }, Math.max(50, request.retransmitMs / 4))
    const deadline = setTimeout(() => finish({ status: 'timeout', bytes, ms: ms() }), request.fileTimeoutMs)
    const onAbort = () => finish({ status: 'error', bytes, ms: ms(), message: 'stopped' })
    request.signal?.addEventListener('abort', onAbort)
    socket.on('error', (error) => finish({ status: 'error', bytes, ms: ms(), message: error.message }))
    socket.on('message', (packet, from) => {
      if (packet.length < 4 || from.address !== request.server) return
      // The server answers from a port of its own (the transfer id); anything from another is ignored.
      if (peer && from.port !== peer.port) return
      peer ??= from
      const opcode = packet.readUInt16BE(0)
      if (opcode === ERROR) {
        const code = packet.readUInt16BE(2)
        const text = packet.subarray(4).toString('latin1').replace(/\0.*$/s, '')
        finish(code === 1 ? { status: 'not-found', ms: ms() } : { status: 'error', bytes, ms: ms(), message: `TFTP error ${code}: ${text}` })
      } else if (opcode === OACK) {
        const size = Number(oackOptions(packet).get('blksize'))
        if (size >= 8 && size <= 65464) blksize = size
        send(ack(0), from.port)
      } else if (opcode === DATA) {
        const block = packet.readUInt16BE(2)
        if (block !== expected) {
          // A block sent again (our acknowledgement was late): acknowledge it again, once.
          if (block === ((expected - 1) & 0xffff)) socket.send(ack(block), from.port, from.address)
          return
        }
        const data = packet.subarray(4)
        if (matches && !data.equals(published!.subarray(bytes, bytes + data.length))) matches = false
        if (request.keep) kept.push(Buffer.from(data))
        bytes += data.length
        expected = (expected + 1) & 0xffff
        if (data.length < blksize) {
          // The last acknowledgement must leave before the socket closes, or the server keeps the
          // transfer (and its slot) until its own timeout.
          const result: TftpResult = { status: 'ok', bytes, matches: published === undefined ? undefined : matches && bytes === published.length, ms: ms(), ...(request.keep ? { data: Buffer.concat(kept) } : {}) }
          clearInterval(retransmit)
          socket.send(ack(block), from.port, from.address, () => finish(result))
        } else {
          send(ack(block), from.port)
        }
      }
    })
    socket.bind(0, request.localAddress, () => send(last, 69))
  })
}

function rrq(file: string, blksize: number | undefined): Buffer {
  const fields = [file, 'octet', ...(blksize ? ['blksize', String(blksize)] : []), 'tsize', '0']
  return Buffer.concat([Buffer.from([0, RRQ]), ...fields.map((field) => Buffer.from(`${field}\0`, 'latin1'))])
}

function ack(block: number): Buffer {
  const packet = Buffer.alloc(4)
  packet.writeUInt16BE(ACK, 0)
  packet.writeUInt16BE(block, 2)
  return packet
}

function oackOptions(packet: Buffer): Map<string, string> {
  const fields = packet.subarray(2).toString('latin1').split('\0')
  const options = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) options.set(fields[i]!.toLowerCase(), fields[i + 1]!)
  return options
}
