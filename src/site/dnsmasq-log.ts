/**
 * DHCP requests as dnsmasq logs them with `log-dhcp` (its own `--log-facility` file or syslog): every
 * line of one request carries its transaction id, and the line naming the MAC says the interface.
 * Measured with dnsmasq 2.90 (pibake's generated config, a client it does not know):
 *
 *   dnsmasq-dhcp[15443]: 3319909381 vendor class: PXEClient:Arch:00000:UNDI:002001
 *   dnsmasq-dhcp[15443]: 3319909381 DHCPDISCOVER(eth0) dc:a6:32:aa:bb:cc ignored        (DHCP range)
 *   dnsmasq-dhcp[15658]: 1410843940 PXE(eth0) dc:a6:32:aa:bb:cc proxy-ignored           (proxy DHCP)
 *
 * dnsmasq never logs what it receives in option 97 (only options it sends, and then cut after 14
 * bytes), so this source gives MAC, interface, vendor class and proposed name — no serial.
 */
import { open } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Sighting } from './identify.ts'

const LINE = /dnsmasq-dhcp\[\d+\]: (\d+) (.*)$/
const MAC_LINE = /^(?:DHCP[A-Z]+|BOOTP|PXE)\(([^)]+)\) (?:\d+\.\d+\.\d+\.\d+ )?((?:[0-9a-f]{2}:){5}[0-9a-f]{2})(?:\s|$)/i
const REMEMBERED = 256

interface Pending {
  mac?: string
  interface?: string
  vendorClass?: string
  hostname?: string
}

/** Reads dnsmasq's log line by line; `line()` returns a sighting whenever a request's MAC is known. */
export class DnsmasqLogReader {
  readonly #requests = new Map<string, Pending>()

  line(text: string): Sighting | undefined {
    const match = LINE.exec(text.trimEnd())
    if (!match) return undefined
    const [, xid, rest] = match as unknown as [string, string, string]
    const pending = this.#pending(xid)
    const macLine = MAC_LINE.exec(rest)
    if (macLine) {
      pending.interface = macLine[1]
      pending.mac = macLine[2]!.toLowerCase()
    } else if (rest.startsWith('vendor class: ')) {
      pending.vendorClass = rest.slice('vendor class: '.length)
    } else if (rest.startsWith('client provides name: ')) {
      pending.hostname = rest.slice('client provides name: '.length)
    } else {
      return undefined
    }
    if (!pending.mac) return undefined
    return { mac: pending.mac, interface: pending.interface, vendorClass: pending.vendorClass, hostname: pending.hostname }
  }

  #pending(xid: string): Pending {
    let pending = this.#requests.get(xid)
    if (!pending) {
      pending = {}
      this.#requests.set(xid, pending)
      if (this.#requests.size > REMEMBERED) this.#requests.delete(this.#requests.keys().next().value!)
    }
    return pending
  }
}

/**
 * Calls `onLine` for every line of `file`: those already there, then those added until `signal`
 * aborts (polled every `pollMs`; a file that shrinks was rotated and is read again from its start).
 */
export async function followLines(file: string, onLine: (line: string) => void, signal: AbortSignal, pollMs = 100): Promise<void> {
  const handle = await open(file, 'r')
  try {
    let offset = 0
    let partial = ''
    const buffer = Buffer.alloc(64 * 1024)
    for (;;) {
      const { size } = await handle.stat()
      if (size < offset) {
        offset = 0
        partial = ''
      }
      while (offset < size) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset)
        if (!bytesRead) break
        offset += bytesRead
        const lines = (partial + buffer.subarray(0, bytesRead).toString('utf8')).split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) onLine(line)
      }
      if (signal.aborted) return
      await sleep(pollMs, undefined, { signal }).catch(() => undefined)
    }
  } finally {
    await handle.close()
  }
}
