/**
 * What a booted node says about itself, read in one SSH round trip: its kernel command line, mounts,
 * hostname, addresses, machine id, failed units, boot time, which paths are writable, and the journal of pibake's boot
 * units. Shared by the boot tests (bookworm, trixie).
 */
import * as assert from 'uvu/assert'
import { guestSsh, type Guest } from './qemu.ts'

export interface Mount {
  readonly device: string
  readonly path: string
  readonly type: string
  readonly options: readonly string[]
}

export interface Facts {
  /** `/proc/cmdline`: what the kernel was booted with. */
  readonly cmdline: string
  readonly mounts: readonly Mount[]
  readonly hostname: string
  /** IPv4 addresses (`hostname -I`). */
  readonly addresses: readonly string[]
  readonly machineId: string
  readonly failed: string
  readonly analyze: string
  readonly writable: Readonly<Record<string, boolean>>
  /** `systemctl is-active` and the journal of pibake-identity.service. */
  readonly identity: string
  /** The same for pibake-accounts.service (`inactive` when the recipe shares no accounts). */
  readonly accounts: string
}

const unitState = (unit: string) =>
  `systemctl is-active ${unit} || true; journalctl -b -u ${unit} --no-pager -o cat 2>&1 | tail -n 20`

const PROBE = [
  'echo "== cmdline"; cat /proc/cmdline',
  'echo "== mounts"; cat /proc/self/mounts',
  'echo "== hostname"; cat /proc/sys/kernel/hostname',
  'echo "== addresses"; hostname -I',
  'echo "== machine-id"; cat /etc/machine-id',
  'echo "== failed"; systemctl --failed --plain --no-legend --no-pager',
  'echo "== analyze"; systemd-analyze time --no-pager 2>&1 || true',
  'echo "== writable"; for d in / /etc /var/log /tmp /var/tmp; do if touch "$d/.pibake-probe" 2>/dev/null; then rm -f "$d/.pibake-probe"; echo "$d yes"; else echo "$d no"; fi; done',
  `echo "== identity"; ${unitState('pibake-identity.service')}`,
  `echo "== accounts"; ${unitState('pibake-accounts.service')}`,
].join('\n')

export async function readFacts(guest: Guest, key: string): Promise<Facts> {
  const { stdout } = await guestSsh(guest, key, PROBE)
  const sections = new Map<string, string>()
  for (const part of stdout.split(/^== /m).slice(1)) {
    const newline = part.indexOf('\n')
    sections.set(part.slice(0, newline < 0 ? part.length : newline), newline < 0 ? '' : part.slice(newline + 1).trim())
  }
  const get = (name: string) => sections.get(name) ?? ''
  return {
    cmdline: get('cmdline'),
    mounts: get('mounts').split('\n').map((line) => {
      const [device = '', path = '', type = '', options = ''] = line.split(' ')
      return { device, path, type, options: options.split(',') }
    }),
    hostname: get('hostname'),
    addresses: get('addresses').split(/\s+/).filter(Boolean),
    machineId: get('machine-id'),
    failed: get('failed'),
    analyze: get('analyze'),
    writable: Object.fromEntries(get('writable').split('\n').map((line) => [line.split(' ')[0] ?? '', line.endsWith(' yes')])),
    identity: get('identity'),
    accounts: get('accounts'),
  }
}

/** The last mount at `path` (what a process there sees). */
export function mountAt(facts: Facts, path: string): Mount {
  const found = facts.mounts.filter((m) => m.path === path).at(-1)
  assert.ok(found, `${path} is a mount point`)
  return found
}
