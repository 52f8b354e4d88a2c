/**
 * Hears DHCP requests on UDP port 67 without ever answering: a plain socket on 0.0.0.0:67 with
 * SO_REUSEADDR, so that broadcast DISCOVERs reach it even beside a DHCP server that also sets it
 * (dnsmasq does). Node's dgram cannot bind to a device (no SO_BINDTODEVICE) nor tell on which
 * interface a datagram arrived (no IP_PKTINFO): the socket hears requests from every interface of
 * the host, and the caller says so.
 */
import { createSocket } from 'node:dgram'
import { PibakeError } from '../errors.ts'
import { parseDhcpRequest, type DhcpRequest } from './dhcp-packet.ts'

export const DHCP_SERVER_PORT = 67

/** Listens until `signal` aborts; every well-formed request goes to `onRequest`. */
export async function listenForRequests(onRequest: (request: DhcpRequest) => void, signal: AbortSignal): Promise<void> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true })
  socket.on('message', (message) => {
    const request = parseDhcpRequest(message)
    if (request) onRequest(request)
  })
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(DHCP_SERVER_PORT, '0.0.0.0', () => {
        socket.off('error', reject)
        resolve()
      })
    })
  } catch (error) {
    socket.close()
    throw bindError(error)
  }
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      if (signal.aborted) resolve()
      signal.addEventListener('abort', () => resolve(), { once: true })
    })
  } finally {
    socket.close()
  }
}

function bindError(error: unknown): PibakeError {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'EACCES') return new PibakeError('listening on UDP port 67 needs root (or CAP_NET_BIND_SERVICE)', 'run pibake discover as root', { cause: error })
  if (code === 'EADDRINUSE') {
    return new PibakeError(
      'UDP port 67 is held by a DHCP server that does not share it (no SO_REUSEADDR)',
      "read that server's log instead: dnsmasq with log-dhcp, pibake discover --log <its log file>",
      { cause: error },
    )
  }
  return new PibakeError(`cannot listen on UDP port 67: ${(error as Error).message}`, undefined, { cause: error })
}
