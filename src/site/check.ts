/**
 * What must hold across the recipes of one site: a node belongs to exactly one recipe (no MAC, IP,
 * host name or serial in two), and the settings the one boot server applies to all of them agree.
 */
import { serialPrefix } from '../recipe/node.ts'
import type { Destination } from '../recipe/types.ts'
import type { SiteNode, SiteRecord } from './record.ts'

export interface SiteProblem {
  /** The other recipe involved. */
  readonly other: string
  readonly message: string
  /** A node the other recipe has (MAC), when the problem is a node in both. */
  readonly mac?: string
}

const NODE_FIELDS = ['mac', 'ip', 'hostname', 'serial'] as const

/** How `candidate` clashes with the site's other records. */
export function siteProblems(candidate: SiteRecord, others: readonly SiteRecord[]): SiteProblem[] {
  const problems: SiteProblem[] = []
  for (const other of others) {
    if (other.recipe === candidate.recipe) continue
    problems.push(...settingProblems(candidate, other))
    for (const node of candidate.nodes) problems.push(...nodeClashes(candidate.recipe, node, other))
  }
  return problems
}

function nodeClashes(recipe: string, node: SiteNode, other: SiteRecord): SiteProblem[] {
  const problems: SiteProblem[] = []
  for (const theirs of other.nodes) {
    for (const field of NODE_FIELDS) {
      const mine = key(node, field)
      if (mine === undefined || mine !== key(theirs, field)) continue
      const shown = field === 'serial' ? `serial ${node.serial} (TFTP prefix ${mine})` : `${field} ${node[field]}`
      problems.push({
        other: other.recipe,
        mac: theirs.mac,
        message: `${recipe}: node ${node.hostname} has ${shown}, which the recipe "${other.recipe}" already gives its node ${theirs.hostname}`,
      })
    }
  }
  return problems
}

function key(node: SiteNode, field: (typeof NODE_FIELDS)[number]): string | undefined {
  if (field === 'serial') return node.serial === undefined ? undefined : serialPrefix(node.serial)
  return node[field]
}

/** Where a destination is (host and path), whatever key or known_hosts file reaches it. */
function place(dest: Destination): string {
  return dest.kind === 'local' ? dest.path : `${dest.user}@${dest.host}:${dest.port}:${dest.path}`
}

/** The boot server's settings for the whole site: DHCP, interface, TFTP root, NFS server. */
function settingProblems(candidate: SiteRecord, other: SiteRecord): SiteProblem[] {
  const settings: [string, (r: SiteRecord) => unknown][] = [
    ['netboot.server', (r) => r.netboot.server],
    ['netboot.dhcp', (r) => r.netboot.dhcp],
    ['netboot.interface', (r) => r.netboot.interface ?? '(all)'],
    ['netboot.log', (r) => r.netboot.log ?? '(syslog)'],
    ['netboot.pi3Server', (r) => r.netboot.pi3Server ?? '(none)'],
    ['netboot.nfs', (r) => r.netboot.nfs],
    ['netboot.nfs (its servers)', (r) => r.netboot.nfsTier ?? null],
    ['the TFTP root', (r) => place(r.where.tftp)],
  ]
  // A shared folder two recipes use is exported once: both must want it the same way.
  const sharing = candidate.netboot.shared && candidate.netboot.shared.path === other.netboot.shared?.path
  if (sharing) settings.push(['the shared folder', (r) => r.netboot.shared])
  return settings.flatMap(([name, get]) => {
    const mine = JSON.stringify(get(candidate))
    const theirs = JSON.stringify(get(other))
    // Compared by content, not by the order of keys: a record read back from the site keeps the
    // keys in the schema's order, a recipe's record in the order the recipe wrote them.
    if (canonical(get(candidate)) === canonical(get(other))) return []
    return [{ other: other.recipe, message: `${name} differs: ${candidate.recipe} has ${mine}, the recipe "${other.recipe}" at the same site has ${theirs}` }]
  })
}

/** JSON with every object's keys sorted, so that equal settings compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  )
}
