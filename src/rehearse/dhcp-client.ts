/**
 * The DHCP phase of a simulated Pi: DISCOVER, wait for an offer carrying the PXE menu text the
 * model's boot ROM looks for, REQUEST, wait for the ACK (the 3B's ROM does not wait), with the
 * model's own retries and timeouts. All nodes of a rehearsal share one socket on port 68 (answers
 * are broadcast, the broadcast flag being set) and are told apart by transaction id and MAC: the
 * node's MAC travels in `chaddr`, which is what the server leases to, and dnsmasq finds a TFTP
 * client's MAC directory from that lease (before it tries ARP).
 */
import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import { encodeClientMachineId } from '../site/pi-models.ts'
import type { NetbootModel } from '../recipe/types.ts'
import { DHCP, decodeServerReply, encodeClientMessage, type ServerReply } from './dhcp-wire.ts'
import { FIRMWARE, PI_VENDOR_CLASS, PXE_MENU_TEXT } from './firmware.ts'

export interface SimulatedPi {
  readonly mac: string
  readonly model: NetbootModel
  /** 8 hex digits: the board serial's low half (option 97, and the TFTP prefix). */
  readonly serial: string
}

export type LeaseResult =
  | { readonly ok: true; readonly address: string; readonly netmask: string; readonly serverId: string; readonly tftpServer: string; readonly acked: boolean; readonly tries: number; readonly ms: number }
  | { readonly ok: false; readonly reason: string; readonly tries: number; readonly ms: number }

/** One UDP socket on port 68 for every simulated node, answers dispatched by transaction id. */
export class DhcpPort {
  readonly #socket: Socket
  readonly #listeners = new Map<number, (reply: ServerReply) => void>()
  /** Answers to a transaction no node waits for any more (it gave up and sent a new DISCOVER): the server was too slow. */
  late = 0

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.on('message', (packet) => {
      const reply = decodeServerReply(packet)
      if (!reply) return
      const listener = this.#listeners.get(reply.xid)
      if (listener) listener(reply)
      else if (this.#sent.has(reply.xid)) this.late += 1
    })
  }

  /** Transaction ids this port sent (answers to others' are not this simulator's business). */
  readonly #sent = new Set<number>()

  static async open(): Promise<DhcpPort> {
    // A thousand nodes' offers come within a second, broadcast: the default receive buffer (some
    // 90 of them) overflowed while the event loop was busy, and the nodes lost offers dnsmasq sent
    // (2,895 sent, 814 REQUESTs back). 4 MiB (the kernel caps it at net.core.rmem_max) holds them.
    const socket = createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 4 * 1024 * 1024 })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(68, '0.0.0.0', () => resolve())
    })
    socket.setBroadcast(true)
    return new DhcpPort(socket)
  }

  listen(xid: number, fn: (reply: ServerReply) => void): () => void {
    this.#listeners.set(xid, fn)
    return () => this.#listeners.delete(xid)
  }

  send(packet: Buffer, to = '255.255.255.255'): Promise<void> {
    this.#sent.add(packet.readUInt32BE(4))
    return new Promise((resolve, reject) => this.#socket.send(packet, 67, to, (error) => (error ? reject(error) : resolve())))
  }

  close(): void {
    this.#socket.close()
  }
}

/** Whether an offer's PXE menu holds the text this model's boot ROM compares (3B: with three spaces). */
export function menuAccepted(model: NetbootModel, menu: readonly string[]): boolean {
  const wanted = FIRMWARE[model].pxeMenuText
  return menu.some((text) => (model === '3B' ? text === wanted : text.startsWith(PXE_MENU_TEXT)))
}

/** The DHCP phase of one node, as its model's firmware runs it. */
export async function lease(port: DhcpPort, pi: SimulatedPi, signal: AbortSignal): Promise<LeaseResult> {
  const firmware = FIRMWARE[pi.model]
  const started = performance.now()
  const ms = () => Math.round(performance.now() - started)
  const machineId = firmware.dhcp.option97 ? encodeClientMachineId(firmware.revision, pi.mac, pi.serial) : undefined
  const base = { mac: pi.mac, vendorClass: PI_VENDOR_CLASS, clientMachineId: machineId }
  let lastReason = 'no offer with the PXE menu'
  for (let tries = 1; tries <= firmware.dhcp.tries && ms() < firmware.dhcp.overallMs && !signal.aborted; tries += 1) {
    const xid = randomBytes(4).readUInt32BE(0)
    const replies: ServerReply[] = []
    let wake: (() => void) | undefined
    const stop = port.listen(xid, (reply) => {
      if (reply.mac !== pi.mac) return
      replies.push(reply)
      wake?.()
    })
    try {
      const wait = (until: (r: readonly ServerReply[]) => boolean, limit: number) => waitFor(() => until(replies), limit, signal, (fn) => { wake = fn })
      const secs = Math.floor(ms() / 1000)
      await port.send(encodeClientMessage({ ...base, type: DHCP.DISCOVER, xid, secs }))
      const windowMs = Math.min(firmware.dhcp.retryMs, firmware.dhcp.overallMs - ms())
      const offered = () => replies.find((r) => r.type === DHCP.OFFER && r.yiaddr !== '0.0.0.0')
      const menu = () => replies.some((r) => r.type === DHCP.OFFER && menuAccepted(pi.model, r.menu))
      await wait(() => Boolean(offered() && menu()), windowMs)
      const offer = offered()
      if (!offer || !menu()) {
        lastReason = offer ? `offers lack the PXE menu text "${firmware.pxeMenuText}"` : 'no offer'
        await sleepRest(started, tries * firmware.dhcp.retryMs, signal)
        continue
      }
      const serverId = offer.serverId ?? offer.tftpServer ?? ''
      await port.send(encodeClientMessage({ ...base, type: DHCP.REQUEST, xid, secs, requested: offer.yiaddr, serverId }))
      const answer = { address: offer.yiaddr, netmask: offer.netmask ?? '255.255.255.0', serverId, tftpServer: offer.tftpServer ?? serverId }
      if (firmware.dhcp.offerIsEnough) {
        // The 3B's ROM goes on with the offered address; the ACK (if any) comes while it fetches.
        return { ok: true, ...answer, acked: false, tries, ms: ms() }
      }
      await wait((r) => r.some((x) => x.type === DHCP.ACK || x.type === DHCP.NAK), Math.max(0, Math.min(firmware.dhcp.retryMs, firmware.dhcp.overallMs - ms())))
      const ack = replies.find((r) => r.type === DHCP.ACK)
      if (ack) return { ok: true, ...answer, address: ack.yiaddr, acked: true, tries, ms: ms() }
      lastReason = replies.some((r) => r.type === DHCP.NAK) ? 'NAK to its REQUEST' : 'no ACK to its REQUEST'
    } finally {
      stop()
    }
  }
  return { ok: false, reason: signal.aborted ? 'stopped' : lastReason, tries: firmware.dhcp.tries, ms: ms() }
}

/**
 * Gives a lease back (DHCPRELEASE naming the server that granted it), broadcast: two dnsmasq on one
 * boot server (the Pi 3s' own, src/netboot/pi3-split.ts) share port 67, and the kernel hands a
 * unicast to one of them, which drops one sent to the other's address (measured: every Pi 3's
 * release lost). Broadcast, both get it and only the one whose server identifier it names acts.
 */
export async function release(port: DhcpPort, mac: string, address: string, serverId: string): Promise<void> {
  const xid = randomBytes(4).readUInt32BE(0)
  await port.send(encodeClientMessage({ type: DHCP.RELEASE, mac, xid, vendorClass: '', ciaddr: address, serverId }))
}

function waitFor(done: () => boolean, limitMs: number, signal: AbortSignal, onWake: (fn: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    if (done() || limitMs <= 0) return resolve()
    const finish = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', finish)
      resolve()
    }
    const timer = setTimeout(finish, limitMs)
    signal.addEventListener('abort', finish)
    onWake(() => done() && finish())
  })
}

/** Sleeps until `untilMs` after `started` (the next try's time), or the signal. */
function sleepRest(started: number, untilMs: number, signal: AbortSignal): Promise<void> {
  const left = started + untilMs - performance.now()
  return waitFor(() => false, left, signal, () => {})
}
