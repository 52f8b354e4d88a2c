/**
 * `pibake try --console`: the node's serial console on this terminal. QEMU serves the console on a
 * Unix socket (and logs it, qemu.ts); this relays it both ways, the terminal in raw mode so that
 * Ctrl-C and the arrow keys reach the node. Ctrl-] leaves, as in telnet.
 */
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Guest } from './qemu.ts'

/** Ctrl-]. */
const LEAVE = 0x1d

/** Relays until Ctrl-], QEMU exiting, or the interrupt; the terminal is restored whatever happens. */
export async function attachConsole(socket: string, guest: Guest, signal: AbortSignal | undefined): Promise<void> {
  const conn = await connectWhenReady(socket, guest)
  const stdin = process.stdin
  const raw = stdin.isTTY === true
  if (raw) stdin.setRawMode(true)
  try {
    await new Promise<void>((resolve) => {
      const done = () => resolve()
      conn.pipe(process.stdout, { end: false })
      stdin.on('data', (data: Buffer) => {
        const at = data.indexOf(LEAVE)
        if (at >= 0) {
          if (at > 0) conn.write(data.subarray(0, at))
          return done()
        }
        conn.write(data)
      })
      stdin.resume()
      conn.on('close', done).on('error', done)
      signal?.addEventListener('abort', done, { once: true })
    })
  } finally {
    stdin.pause()
    stdin.removeAllListeners('data')
    if (raw) stdin.setRawMode(false)
    conn.destroy()
    process.stdout.write('\n')
  }
}

/** QEMU makes the socket as it starts. */
async function connectWhenReady(path: string, guest: Guest) {
  for (let tries = 0; ; tries++) {
    try {
      return await new Promise<ReturnType<typeof connect>>((resolve, reject) => {
        const conn = connect(path)
        conn.once('connect', () => resolve(conn)).once('error', reject)
      })
    } catch (error) {
      if (guest.exit() !== undefined || tries > 100) throw error
      await sleep(100)
    }
  }
}
